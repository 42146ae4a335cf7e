// Package deploy holds the tests of the deployment files (docs/deployment.md):
// the Containerfile built and run with podman and no image registry, the
// Kubernetes manifests of examples/kubernetes decoded strictly into the
// Kubernetes API types, and the many-vantage-points examples of
// examples/vantage run as they are: a fleet of Telegrafs writing to one
// InfluxDB-compatible endpoint, and agent Collectors chained to a gateway.
// It has no code of its own; everything is in its tests.
package deploy

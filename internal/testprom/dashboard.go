package testprom

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strings"
)

// PanelQuery is one PromQL expression of a Grafana dashboard, its template
// variables replaced.
type PanelQuery struct {
	// Dashboard is the dashboard's title.
	Dashboard string
	// Panel is the title of the panel the query belongs to; empty for a
	// template variable's query.
	Panel string
	// Variable is the name of the template variable whose query this is;
	// empty for a panel's.
	Variable string
	// RefID is the panel target's refId (A, B, ...).
	RefID string
	// Expr is the PromQL, runnable as it is. A variable's
	// label_values(selector, label) becomes group by (label) (selector),
	// the series Grafana reads the values from.
	Expr string
}

func (q PanelQuery) String() string {
	where := "panel " + q.Panel + " " + q.RefID
	if q.Variable != "" {
		where = "variable " + q.Variable
	}
	return fmt.Sprintf("%s: %s: %s", q.Dashboard, where, q.Expr)
}

// Builtins are the values DashboardQueries gives Grafana's built-in
// variables.
var Builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "5m",
}

// DashboardQueries reads the Grafana dashboard JSON at path and returns
// every panel target's expression (rows' nested panels included) and every
// query variable's query, in the order of the file. Each template
// variable ($name, ${name}, ${name:format}, [[name]]) is replaced: a
// query or custom variable by ".*" (what "All" means in these
// dashboards), Grafana's built-ins by Builtins, and any of them by the
// value the optional vars map gives it (e.g. "target": "192\\.0\\.2\\.1").
// A reference to anything else (the datasource variable, a typo) is left
// as it is, for the caller to notice.
func DashboardQueries(path string, vars ...map[string]string) ([]PanelQuery, error) {
	d, err := loadDashboard(path)
	if err != nil {
		return nil, err
	}
	values := maps.Clone(Builtins)
	for _, v := range d.Templating.List {
		if v.Type == "query" || v.Type == "custom" {
			values[v.Name] = ".*"
		}
	}
	for _, m := range vars {
		maps.Copy(values, m)
	}

	var qs []PanelQuery
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		expr, err := variableExpr(v.queryString())
		if err != nil {
			return nil, fmt.Errorf("%s: variable %s: %w", path, v.Name, err)
		}
		qs = append(qs, PanelQuery{Dashboard: d.Title, Variable: v.Name, Expr: substitute(expr, values)})
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr == "" {
					continue
				}
				qs = append(qs, PanelQuery{Dashboard: d.Title, Panel: p.Title, RefID: t.RefID, Expr: substitute(t.Expr, values)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return qs, nil
}

// dashboardPanels returns the title and type of every panel of the
// dashboard at path, rows' nested panels included, and how many targets
// with an expression each has.
func dashboardPanels(path string) ([]panelInfo, error) {
	d, err := loadDashboard(path)
	if err != nil {
		return nil, err
	}
	var out []panelInfo
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			n := 0
			for _, t := range p.Targets {
				if t.Expr != "" {
					n++
				}
			}
			out = append(out, panelInfo{Title: p.Title, Type: p.Type, Queries: n})
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// panelInfo is one panel of a dashboard, for dashboardPanels.
type panelInfo struct {
	Title, Type string
	// Queries counts the panel's targets with an expression.
	Queries int
}

// dashboard is the part of Grafana's dashboard JSON model read here.
type dashboard struct {
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type variable struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Query is a string (older dashboards, custom variables) or, for a
	// Prometheus query variable, {"query": "...", "qryType": ...}.
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
}

func (v variable) queryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &o) == nil && o.Query != "" {
		return o.Query
	}
	return v.Definition
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\s*\((.*)\)\s*$`)
	queryResult = regexp.MustCompile(`^\s*query_result\s*\((.*)\)\s*$`)
	labelName   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// variableExpr turns a Prometheus query variable's query into the PromQL
// whose series Grafana reads: label_values(selector, label) lists label's
// values over the series of selector, query_result(expr) runs expr.
func variableExpr(q string) (string, error) {
	if m := queryResult.FindStringSubmatch(q); m != nil {
		return m[1], nil
	}
	m := labelValues.FindStringSubmatch(q)
	if m == nil {
		return "", fmt.Errorf("query %q is neither label_values(...) nor query_result(...)", q)
	}
	args := m[1]
	// A label name has no comma: the last comma ends the selector.
	i := strings.LastIndex(args, ",")
	label, selector := strings.TrimSpace(args[i+1:]), ""
	if i >= 0 {
		selector = strings.TrimSpace(args[:i])
	}
	if !labelName.MatchString(label) {
		return "", fmt.Errorf("query %q: %q is not a label name", q, label)
	}
	if selector == "" {
		selector = fmt.Sprintf(`{%s!=""}`, label)
	}
	return fmt.Sprintf("group by (%s) (%s)", label, selector), nil
}

// variableRef is a reference to a template variable, in each of Grafana's
// syntaxes: $name, ${name}, ${name:format}, [[name]], [[name:format]].
var variableRef = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]`)

// substitute replaces the references to the variables of values in expr.
func substitute(expr string, values map[string]string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := values[name]; ok {
			return v
		}
		return ref
	})
}

// loadDashboard reads the Grafana dashboard JSON at path.
func loadDashboard(path string) (dashboard, error) {
	var d dashboard
	b, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

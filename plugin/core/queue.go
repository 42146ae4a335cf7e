package core

import "time"

// timeQueue is a min-heap (for container/heap) of items ordered by a time:
// the targets of a round or a stream by when their next packet is due, a
// stream's packets by when they are decided.
type timeQueue[T any] struct {
	items []T
	at    func(T) time.Time
}

func (q *timeQueue[T]) Len() int           { return len(q.items) }
func (q *timeQueue[T]) Less(i, j int) bool { return q.at(q.items[i]).Before(q.at(q.items[j])) }
func (q *timeQueue[T]) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *timeQueue[T]) Push(x any)         { q.items = append(q.items, x.(T)) }
func (q *timeQueue[T]) Pop() any {
	n := len(q.items) - 1
	x := q.items[n]
	q.items = q.items[:n]
	return x
}

// first is the earliest item; the queue must not be empty.
func (q *timeQueue[T]) first() T { return q.items[0] }

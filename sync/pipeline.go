package sync

import "context"

// pipeline hands items to one goroutine that processes them in order, with
// at most depth items waiting: a pass diffs one page against the mirror
// while the next is fetched, and memory holds a bounded number of pages.
type pipeline[T any] struct {
	ch   chan T
	done chan error
}

func startPipeline[T any](depth int, fn func(T) error) *pipeline[T] {
	p := &pipeline[T]{ch: make(chan T, depth), done: make(chan error, 1)}
	go func() {
		var err error
		for v := range p.ch {
			if err == nil {
				err = fn(v)
			}
			// After an error the rest is drained, not processed, so the
			// sender never blocks.
		}
		p.done <- err
	}()
	return p
}

// send queues v; it returns ctx's error if the pass is cancelled first.
func (p *pipeline[T]) send(ctx context.Context, v T) error {
	select {
	case p.ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait closes the queue and returns the first error of the processing.
func (p *pipeline[T]) wait() error {
	close(p.ch)
	return <-p.done
}

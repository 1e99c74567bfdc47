package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"

	"github.com/boontadata/boontadata/pkg/retry"
)

// GroupLoop is the consumer-group loop the three runtimes share: consume
// until the context ends, the group is closed, or a session fails in a way
// that ends it for good.
type GroupLoop struct {
	Group   sarama.ConsumerGroup
	Name    string // the group id, for errors
	Topics  []string
	Handler sarama.ConsumerGroupHandler
	// Retry paces the rejoins after a failed session: from 1 s, doubling to
	// 30 s; a session that ends without error (a rebalance) rejoins at once
	// and resets the backoff.
	Retry retry.Policy
	Log   *zap.Logger
	// What names the operation in logs and retry metrics ("consume events").
	What string
	// Fatal, when set, says that a session's error ends the loop.
	Fatal func(error) bool
	// OnError, when set, is told every failed session.
	OnError func(error)
}

// Run consumes until ctx ends (nil), the group is closed (nil), or a
// session fails with an error Fatal accepts (that error). It logs the
// group's errors while it runs and closes the group before it returns,
// which leaves it: its partitions move to the other members. closeErr is the
// close's error, if any.
func (l GroupLoop) Run(ctx context.Context) (fatal, closeErr error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for err := range l.Group.Errors() {
			l.Log.Warn("consumer group error", zap.String("group", l.Name), zap.Error(err))
		}
	}()
	rejoin := l.Retry
	rejoin.Initial, rejoin.Max = time.Second, 30*time.Second
	closed := false
	for ctx.Err() == nil && !closed && fatal == nil {
		_ = rejoin.Do(ctx, l.Log, l.What, func() error { // an error: ctx ended
			err := l.Group.Consume(ctx, l.Topics, l.Handler)
			switch {
			case err == nil || ctx.Err() != nil:
				return nil
			case errors.Is(err, sarama.ErrClosedConsumerGroup):
				closed = true
				return nil
			case l.Fatal != nil && l.Fatal(err):
				fatal = err
				return nil
			}
			if l.OnError != nil {
				l.OnError(err)
			}
			return err
		})
	}
	if err := l.Group.Close(); err != nil {
		closeErr = fmt.Errorf("leave consumer group %s: %w", l.Name, err)
	}
	wg.Wait()
	return fatal, closeErr
}

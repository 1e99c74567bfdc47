package engine

import "slices"

// replay is what a restored engine needs until it passes its checkpoint
// (Restore). The records from MinOffsetNeeded up to Checkpoint.NextOffset
// rebuild the open state, but what they caused was emitted before the
// restart: while muted, the engine emits no result and no decision and
// counts no decision. In micro-batch mode, batches holds the watermark each
// replayed batch ran under, consumed as the batch's records come.
type replay struct {
	batches []BatchMark
	// until is Checkpoint.NextOffset: the first offset the engine had not
	// processed when the checkpoint was taken.
	until int64
	muted bool
	// afterAdvance is Checkpoint.AfterAdvance: the checkpoint followed an
	// Advance, which the first Advance after the replayed records repeats.
	afterAdvance bool
}

// start mutes a fresh engine restored from cp.
func (rp *replay) start(cp Checkpoint) {
	rp.muted, rp.until, rp.afterAdvance = cp.NextOffset > 0, cp.NextOffset, cp.AfterAdvance
	rp.batches = slices.Clone(cp.Batches)
}

// passed reports whether a muted engine reached the checkpoint with the
// record at offset: the record is new, and the engine unmutes before it.
func (rp *replay) passed(offset int64) bool { return rp.muted && offset >= rp.until }

// replayStep is what an Advance does to a muted engine.
type replayStep uint8

const (
	replayUnchanged      replayStep = iota // not muted, or records below the checkpoint are still to come
	replayRepeatsAdvance                   // the Advance the checkpoint followed: silent, then unmute
	replayEnds                             // unmute, then advance
)

// atAdvance says what an Advance does, given the offset after the last
// record processed and whether any record was.
func (rp *replay) atAdvance(nextOffset int64, processed bool) replayStep {
	switch {
	case !rp.muted || nextOffset < rp.until || !processed:
		return replayUnchanged
	case rp.afterAdvance:
		return replayRepeatsAdvance
	}
	return replayEnds
}

// endReplay unmutes a restored engine. Unless the checkpoint followed an
// Advance, the original engine may have had changes not yet emitted in
// update mode: every open aggregate is emitted again at the next Advance,
// with unchanged revisions, so none of them is missed.
func (e *Engine) endReplay() {
	e.replay.muted = false
	if e.replay.afterAdvance || e.spec.Output != Update || e.spec.EmitPerRecord {
		return
	}
	for _, ow := range e.windows {
		for i := range ow.aggs {
			if st := &ow.aggs[i]; !st.dirty {
				st.dirty = true
				e.dirty = append(e.dirty, aggRef{ow, int32(i)})
			}
		}
	}
}

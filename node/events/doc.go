// Package events is the engine's event bus: typed events (peer seen or
// lost, shard stored, asset changed, receipt signed, ...) fanned out to
// subscribers (the dashboard's live feed, tests) without ever blocking the
// publisher. Each part of the engine defines its own event types; they
// implement Event.
package events

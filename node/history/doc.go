// Package history records the node's figures over time (the dashboard's
// overview charts): one sample every Config.Interval in node_history,
// kept for Config.Keep. What a sample holds comes from the node through
// Deps.Sample; this package only stores, trims and reads samples.
package history

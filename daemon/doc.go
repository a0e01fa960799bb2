// Package daemon is the long-running side of tursync: each account's
// passes on a cron schedule spread by a fixed jitter, at most a set number
// at once, the extraction and webhook tasks cmd hands it (each under its
// own lease, in the same concurrency slots), panics recovered, a graceful
// shutdown that lets the org in flight finish, and the /status document.
// One pass of one account is package sync's; the daemon only schedules it.
package daemon

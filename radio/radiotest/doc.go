// Package radiotest is an in-memory radio medium for multi-node tests,
// after memberlist's MockNetwork: a Mesh hands out radio.Links, and a frame
// one link sends reaches every other up link of the same Via on the mesh,
// unless the mesh's deterministic loss drops it. It uses no sockets and no
// timers, so it works inside testing/synctest bubbles.
package radiotest

package broker

// Vote is one host's answer to a job: the BLAKE3 of its output, or a
// failure (Hash empty).
type Vote struct {
	Host string
	Hash string
}

// Verdict is what the votes so far decide.
type Verdict struct {
	// Accepted: Hash is the job's output, Majority the hosts that gave it.
	Accepted bool
	Hash     string
	Majority []string
	// Minority are hosts that answered another hash; Failed gave none.
	Minority []string
	Failed   []string
	// More is how many more hosts to dispatch to (0 when accepted).
	More int
}

// Decide applies the result quorum to the votes of a job needing r
// matching outputs: a hash is accepted when at least r hosts gave it and
// more hosts gave it than all other hashes together. Otherwise one more
// host is asked for each vote still missing to reach r, and at least one
// when the answers disagree (the tie-breaker).
func Decide(votes []Vote, r int) Verdict {
	counts := map[string]int{}
	var order []string
	var v Verdict
	answered := 0
	for _, x := range votes {
		if x.Hash == "" {
			v.Failed = append(v.Failed, x.Host)
			continue
		}
		if counts[x.Hash] == 0 {
			order = append(order, x.Hash)
		}
		counts[x.Hash]++
		answered++
	}
	best, bestN := "", 0
	for _, h := range order {
		if counts[h] > bestN {
			best, bestN = h, counts[h]
		}
	}
	if bestN >= r && 2*bestN > answered {
		v.Accepted, v.Hash = true, best
		for _, x := range votes {
			switch {
			case x.Hash == best:
				v.Majority = append(v.Majority, x.Host)
			case x.Hash != "":
				v.Minority = append(v.Minority, x.Host)
			}
		}
		return v
	}
	// Not decided: enough hosts for the best hash to reach r, or one
	// tie-breaker when it has r but no majority.
	v.More = max(r-bestN, 1)
	return v
}

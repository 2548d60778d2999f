package ring

// Inversions exposes the count of out-of-order adjacent pairs to the external tests, which
// check that Range leaves its linear-scan fallback once the ring is ordered again.
func Inversions(r *Ring) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.inversions
}

package ring_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"mask.services/maskservice"
	"mask.services/maskservice/store/ring"
)

// The Set is what the web layer reads recent readings through.
var _ maskservice.RecentReadings = (*ring.Set)(nil)

// of returns a reading of sensor id at second sec with Value sec.
func of(id string, sec int) maskservice.Reading {
	rd := reading(sec, float64(sec))
	rd.SensorID = id
	return rd
}

func TestNewSetFunc(t *testing.T) {
	caps := map[string]int{"P1": 5, "P2": 360000}
	s := ring.NewSetFunc([]string{"P1", "P2", "P3", "P1"}, func(id string) int { return caps[id] })
	if got, want := s.IDs(), []string{"P1", "P2", "P3"}; !slices.Equal(got, want) {
		t.Errorf("IDs() = %v, want %v", got, want)
	}
	for id, want := range map[string]int{"P1": 5, "P2": 360000, "P3": ring.DefaultCapacity} {
		if got := s.Ring(id).Cap(); got != want {
			t.Errorf("%s: Cap() = %d, want %d", id, got, want)
		}
	}
}

func TestSet_Push(t *testing.T) {
	s := ring.NewSet([]string{"P1", "P2", "P3"}, 3)
	for _, tc := range []struct {
		rd   maskservice.Reading
		want bool
	}{
		{rd: of("P1", 1), want: true},
		{rd: of("P2", 2), want: true},
		{rd: of("P1", 3), want: true},
		{rd: of("P9", 4), want: false},
		{rd: of("", 5), want: false},
		{rd: of("p1", 6), want: false}, // ids are case-sensitive
	} {
		if got := s.Push(tc.rd); got != tc.want {
			t.Errorf("Push(%q) = %v, want %v", tc.rd.SensorID, got, tc.want)
		}
	}
	for _, tc := range []struct {
		id     string
		want   []int
		latest bool
	}{
		{id: "P1", want: []int{1, 3}, latest: true},
		{id: "P2", want: []int{2}, latest: true},
		{id: "P3", want: nil},
		{id: "P9", want: nil},
		{id: "", want: nil},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if n := s.Len(tc.id); n != len(tc.want) {
				t.Errorf("Len = %d, want %d", n, len(tc.want))
			}
			if got := values(s.Range(tc.id, time.Time{}, at(100), nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Range = %v, want %v", got, tc.want)
			}
			if got := values(s.Last(tc.id, 10, nil)); !slices.Equal(got, tc.want) {
				t.Errorf("Last = %v, want %v", got, tc.want)
			}
			rd, ok := s.Latest(tc.id)
			if ok != tc.latest {
				t.Fatalf("Latest ok = %v, want %v", ok, tc.latest)
			}
			if ok && (rd.SensorID != tc.id || int(rd.Value) != tc.want[len(tc.want)-1]) {
				t.Errorf("Latest = %s %v, want %s %d", rd.SensorID, rd.Value, tc.id, tc.want[len(tc.want)-1])
			}
		})
	}
}

func TestSet_UnknownSensorKeepsDst(t *testing.T) {
	s := ring.NewSet([]string{"P1"}, 3)
	s.Push(of("P1", 1))
	dst := []maskservice.Reading{of("X", 7)}
	if got := s.Range("P9", time.Time{}, at(100), dst); !slices.Equal(got, dst) {
		t.Errorf("Range(unknown) = %v, want dst unchanged", values(got))
	}
	if got := s.Last("P9", 5, dst); !slices.Equal(got, dst) {
		t.Errorf("Last(unknown) = %v, want dst unchanged", values(got))
	}
	if s.Ring("P9") != nil {
		t.Error("Ring(unknown) is not nil")
	}
	if r := s.Ring("P1"); r == nil || r.Len() != 1 {
		t.Error("Ring(P1) is not the ring that holds P1's reading")
	}
}

func TestNewSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ids      []string
		capacity int
		wantIDs  []string
		wantCap  int
	}{
		{name: "default capacity", ids: []string{"P1", "P2"}, capacity: 0, wantIDs: []string{"P1", "P2"}, wantCap: ring.DefaultCapacity},
		{name: "order kept", ids: []string{"P3", "P1"}, capacity: 10, wantIDs: []string{"P3", "P1"}, wantCap: 10},
		{name: "duplicate id gets one ring", ids: []string{"P1", "P2", "P1"}, capacity: 5, wantIDs: []string{"P1", "P2"}, wantCap: 5},
		{name: "no sensors", ids: nil, capacity: 5, wantIDs: nil, wantCap: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ring.NewSet(tc.ids, tc.capacity)
			if got := s.IDs(); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("IDs() = %v, want %v", got, tc.wantIDs)
			}
			for _, id := range tc.wantIDs {
				if c := s.Ring(id).Cap(); c != tc.wantCap {
					t.Errorf("ring %s has capacity %d, want %d", id, c, tc.wantCap)
				}
			}
		})
	}
}

func TestSet_PushNoAllocations(t *testing.T) {
	s := ring.NewSet([]string{"P1", "P2", "P3"}, 100)
	rd := of("P2", 0)
	allocs := testing.AllocsPerRun(1000, func() {
		rd.Time = rd.Time.Add(time.Second)
		s.Push(rd)
	})
	if allocs != 0 {
		t.Errorf("Set.Push allocates %v times per call, want 0", allocs)
	}
}

func TestSet_Concurrent(t *testing.T) {
	ids := []string{"P1", "P2", "P3"}
	const capacity, pushes = 32, 1000
	s := ring.NewSet(ids, capacity)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, id := range ids {
		wg.Go(func() {
			for i := range pushes {
				s.Push(of(id, i))
			}
		})
	}
	bad := make(chan string, len(ids))
	var readers sync.WaitGroup
	for _, id := range ids {
		readers.Go(func() {
			var dst []maskservice.Reading
			for {
				select {
				case <-stop:
					return
				default:
				}
				dst = s.Last(id, capacity, dst[:0])
				for _, rd := range dst {
					if rd.SensorID != id {
						bad <- "reading of " + rd.SensorID + " in the ring of " + id
						return
					}
				}
				s.Latest(id)
				s.Range(id, at(0), at(pushes), dst[:0])
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(bad)
	for e := range bad {
		t.Error(e)
	}
	for _, id := range ids {
		if got := values(s.Last(id, capacity, nil)); !slices.Equal(got, seq(pushes-capacity, pushes)) {
			t.Errorf("%s holds %v, want the last %d pushed", id, got, capacity)
		}
	}
}

package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"runtime/debug"
	"syscall"
)

// scanFile checks the layout of the bbolt file at path before bbolt maps it: Open runs it at
// every start, Verify before bbolt's own check. It reports ErrNotBolt or ErrDamaged, or an
// error of the system (the file cannot be opened or mapped), which is neither.
//
// bbolt maps the file into memory and follows the page references it finds without checking
// them against the file's size, and it asserts (panics) on pages that are not what it
// expects: a truncated file is a memory fault (SIGBUS) that no recover catches, a page of
// garbage an "assertion failed" panic, in whichever goroutine first reads it. scanFile reads
// every page bbolt can reach from the meta page it will choose, the way bbolt will, with
// bounds checks, and refuses the file if
//
//   - neither meta page is valid (magic, version, checksum), or the chosen one's page size,
//     root or free list lies outside what it counts;
//   - the file is shorter than the pages the meta counts (cut short);
//   - the free list is not a free list page, or lists an id outside the file, twice, or
//     one that the tree uses (bbolt would hand a page in use out again, or panic when it
//     frees it);
//   - a page of the tree lies outside the file, is referenced twice (which also stops
//     cycles), says it is another page, has an unknown type, is an empty branch, or holds
//     elements that reach past its end;
//   - a key is empty, or keys are out of order within a page or against the keys of the
//     branch above it (bbolt's search would then miss a bucket and panic when it writes);
//   - a bucket header is cut short, or an inline bucket is not a leaf of plain values.
//
// It does not count pages that are neither reachable nor free (a leak wastes space and
// harms nothing) and reads no value: what a value holds is its decoder's business.
// bbolt's Tx.Check, which Verify adds, reports leaks too.
//
// The file is mapped read-only for the scan, so a scan reads only the pages it visits (about
// 10 ms for the 25 MB file of 30 days of history on the CI machine, with the file in the
// page cache; from a cold SD card, the reachable pages at the card's speed). A read error of
// the disk while mapped is a memory fault too: it is turned into ErrDamaged here, in the
// scanning goroutine, with debug.SetPanicOnFault.
//
// The layout is bbolt's file format version 2 (go.etcd.io/bbolt/internal/common), in the
// machine's byte order, as bbolt writes it.
func scanFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return scanOpenFile(f)
}

// scanOpenFile is scanFile on an open file.
func scanOpenFile(f *os.File) (err error) {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size < pageHeaderSize+metaSize {
		return fmt.Errorf("%w: no meta page (%d bytes)", ErrNotBolt, size)
	}
	if size > math.MaxInt {
		return fmt.Errorf("%s: %d bytes do not fit in this machine's address space", f.Name(), size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map %s to check it: %w", f.Name(), err)
	}
	defer func() { _ = syscall.Munmap(data) }()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, v)
		}
	}()
	// A read error of the disk under the map becomes a panic the recover above catches.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	s := &scanner{data: data}
	return s.scan()
}

// The on-disk format of bbolt.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaSize         = 64 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid, checksum u64
	metaSumSize      = 56 // the checksum covers the meta up to itself
	elementSize      = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderSize = 16 // root pgid u64, sequence u64
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	noFreelist       = ^uint64(0)
	minPageSize      = 512
	maxPageSize      = 1 << 24
	metaProbeSize    = 0x1000 // how much bbolt reads to find a meta page
)

// meta is the part of a bbolt meta page that the scan needs.
type meta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta decodes and validates a meta page as bbolt's Meta.Validate does: magic, version
// and checksum. b starts at the page's header.
func parseMeta(b []byte) (meta, bool) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, false
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return meta{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaSumSize])
	if h.Sum64() != ne.Uint64(m[metaSumSize:]) {
		return meta{}, false
	}
	return meta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
		pgid: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
}

type scanner struct {
	data     []byte // the whole file, mapped
	pageSize uint64
	hwm      uint64 // the chosen meta's high-water mark: pages [0, hwm) exist
	seen     bitset // pages of the tree and of the free list page
	free     bitset // pages the free list lists
}

// bitset is a set of page ids below the high-water mark.
type bitset []uint64

func newBitset(n uint64) bitset            { return make(bitset, (n+63)/64) }
func (b bitset) has(i uint64) bool         { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) add(i uint64)              { b[i/64] |= 1 << (i % 64) }
func (s *scanner) size() uint64            { return uint64(len(s.data)) }
func (s *scanner) at(off, n uint64) []byte { return s.data[off : off+n] }

func (s *scanner) scan() error {
	ps, err := s.findPageSize()
	if err != nil {
		return err
	}
	if ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("%w: page size %d", ErrDamaged, ps)
	}
	s.pageSize = uint64(ps)
	if s.size() < 2*s.pageSize {
		return fmt.Errorf("%w: %d bytes, less than two pages of %d", ErrNotBolt, s.size(), ps)
	}
	// bbolt takes the valid meta page with the higher transaction id.
	m0, ok0 := parseMeta(s.at(0, pageHeaderSize+metaSize))
	m1, ok1 := parseMeta(s.at(s.pageSize, pageHeaderSize+metaSize))
	var m meta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return fmt.Errorf("%w: both meta pages are invalid", ErrNotBolt)
	}
	if uint64(m.pageSize) != s.pageSize {
		return fmt.Errorf("%w: the meta page says pages of %d bytes, the file's first meta page %d", ErrDamaged, m.pageSize, s.pageSize)
	}
	if m.pgid < 2 || m.pgid > s.size()/s.pageSize {
		return fmt.Errorf("%w: cut short: the meta page counts %d pages of %d bytes, the file has %d bytes",
			ErrDamaged, m.pgid, s.pageSize, s.size())
	}
	s.hwm = m.pgid
	s.seen, s.free = newBitset(s.hwm), newBitset(s.hwm)
	if m.freelist != noFreelist {
		if err := s.scanFreelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root < 2 || m.root >= s.hwm {
		return fmt.Errorf("%w: the root bucket's page %d is outside the file's %d pages", ErrDamaged, m.root, s.hwm)
	}
	return s.scanPage(m.root, 0, nil, nil)
}

// findPageSize finds the page size as bbolt's Open does: from a valid meta page at the
// start of the file, else from one at a power of two from 1 KiB to 16 MiB, else the
// system's page size if a meta page could at least be read.
func (s *scanner) findPageSize() (int, error) {
	if s.size() >= metaProbeSize {
		if m, ok := parseMeta(s.at(0, metaProbeSize)); ok {
			return int(m.pageSize), nil
		}
	}
	canRead := s.size() >= metaProbeSize
	for i := 0; i <= 14; i++ {
		pos := uint64(1024) << i
		if pos+1024 >= s.size() {
			break
		}
		canRead = true
		if m, ok := parseMeta(s.at(pos, min(metaProbeSize, s.size()-pos))); ok {
			return int(m.pageSize), nil
		}
	}
	if canRead {
		return os.Getpagesize(), nil
	}
	return 0, fmt.Errorf("%w: no meta page (%d bytes)", ErrNotBolt, s.size())
}

// readPage returns page id with its overflow pages, after checking that they lie inside the
// high-water mark, and so inside the file, that its header names it, and that no other
// reference reached it before. It marks them seen.
func (s *scanner) readPage(id uint64) ([]byte, error) {
	if id < 2 || id >= s.hwm {
		return nil, fmt.Errorf("%w: page %d: out of bounds (%d pages)", ErrDamaged, id, s.hwm)
	}
	hdr := s.at(id*s.pageSize, pageHeaderSize)
	ne := binary.NativeEndian
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("%w: page %d: header says page %d", ErrDamaged, id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if overflow >= s.hwm-id {
		return nil, fmt.Errorf("%w: page %d: %d overflow pages run past the end (%d pages)", ErrDamaged, id, overflow, s.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		switch {
		case s.seen.has(i):
			return nil, fmt.Errorf("%w: page %d: referenced twice", ErrDamaged, i)
		case s.free.has(i):
			return nil, fmt.Errorf("%w: page %d: in use and on the free list", ErrDamaged, i)
		}
		s.seen.add(i)
	}
	return s.at(id*s.pageSize, (overflow+1)*s.pageSize), nil
}

// scanFreelist checks the free list page and marks the pages it lists as free. bbolt loads
// it at every writable open and hands its pages out for new data.
func (s *scanner) scanFreelist(id uint64) error {
	b, err := s.readPage(id)
	if err != nil {
		return fmt.Errorf("free list: %w", err)
	}
	ne := binary.NativeEndian
	if flags := ne.Uint16(b[8:]); flags != freelistPageFlag {
		return fmt.Errorf("%w: free list page %d has type %#x", ErrDamaged, id, flags)
	}
	start, count := uint64(0), uint64(ne.Uint16(b[10:]))
	if count == 0xFFFF {
		// The count overflowed 16 bits and is kept in the first element.
		start, count = 1, ne.Uint64(b[pageHeaderSize:])
	}
	avail := uint64(len(b)-pageHeaderSize) / 8
	if start > avail || count > avail-start {
		return fmt.Errorf("%w: free list page %d: %d ids do not fit in it", ErrDamaged, id, count)
	}
	ids := b[pageHeaderSize+start*8:]
	for i := range count {
		free := ne.Uint64(ids[i*8:])
		switch {
		case free < 2 || free >= s.hwm:
			return fmt.Errorf("%w: free list page %d lists page %d, outside the file's %d pages", ErrDamaged, id, free, s.hwm)
		case s.free.has(free):
			return fmt.Errorf("%w: free list page %d lists page %d twice", ErrDamaged, id, free)
		case s.seen.has(free):
			return fmt.Errorf("%w: free list page %d lists itself", ErrDamaged, id)
		}
		s.free.add(free)
	}
	return nil
}

// maxDepth bounds the nesting of pages and buckets; a real tree is a few levels deep.
const maxDepth = 256

// scanPage checks the branch or leaf page id and everything it references. Its keys must lie
// in [lo, hi) (nil: unbounded), the range its parent branch gives it.
func (s *scanner) scanPage(id uint64, depth int, lo, hi []byte) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: page %d: nested more than %d deep", ErrDamaged, id, maxDepth)
	}
	b, err := s.readPage(id)
	if err != nil {
		return err
	}
	return s.scanNode(b, id, false, depth, lo, hi)
}

// scanNode checks the page in b (a page of the file, id, or the page of an inline bucket),
// whose elements must lie inside b and whose keys inside [lo, hi).
func (s *scanner) scanNode(b []byte, id uint64, inline bool, depth int, lo, hi []byte) error {
	name := pageName{id, inline}
	if len(b) < pageHeaderSize {
		return fmt.Errorf("%w: %s: shorter than a page header", ErrDamaged, name)
	}
	ne := binary.NativeEndian
	flags, count := ne.Uint16(b[8:]), uint64(ne.Uint16(b[10:]))
	switch {
	case flags != branchPageFlag && flags != leafPageFlag:
		return fmt.Errorf("%w: %s: unexpected page type %#x", ErrDamaged, name, flags)
	case inline && flags != leafPageFlag:
		return fmt.Errorf("%w: %s: not a leaf page", ErrDamaged, name)
	case flags == branchPageFlag && count == 0:
		return fmt.Errorf("%w: %s: a branch without elements", ErrDamaged, name)
	case pageHeaderSize+count*elementSize > uint64(len(b)):
		return fmt.Errorf("%w: %s: %d elements do not fit in it", ErrDamaged, name, count)
	}
	// Element positions count from the element itself.
	key := func(i, pos, ksize uint64) ([]byte, error) {
		off := pageHeaderSize + i*elementSize + pos
		if ksize == 0 || off+ksize > uint64(len(b)) || off+ksize < off {
			return nil, fmt.Errorf("%w: %s: key %d is empty or runs past the page's end", ErrDamaged, name, i)
		}
		return b[off : off+ksize], nil
	}
	var keys [][]byte // a branch's keys, for its children's ranges
	prev := lo
	for i := range count {
		e := b[pageHeaderSize+i*elementSize:][:elementSize]
		var k []byte
		var err error
		if flags == branchPageFlag {
			k, err = key(i, uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:])))
		} else {
			k, err = key(i, uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])))
		}
		if err != nil {
			return err
		}
		if (prev != nil && (bytes.Compare(k, prev) < 0 || i > 0 && bytes.Equal(k, prev))) || (hi != nil && bytes.Compare(k, hi) >= 0) {
			return fmt.Errorf("%w: %s: key %d out of order", ErrDamaged, name, i)
		}
		prev = k
		if flags == branchPageFlag {
			keys = append(keys, k)
			continue
		}
		eflags := ne.Uint32(e[0:])
		if eflags&bucketLeafFlag == 0 {
			off := pageHeaderSize + i*elementSize + uint64(ne.Uint32(e[4:])) + uint64(len(k))
			if vsize := uint64(ne.Uint32(e[12:])); off+vsize > uint64(len(b)) {
				return fmt.Errorf("%w: %s: value %d runs past the page's end", ErrDamaged, name, i)
			}
			continue
		}
		if inline {
			return fmt.Errorf("%w: %s: holds a bucket, which an inline bucket never does", ErrDamaged, name)
		}
		off := pageHeaderSize + i*elementSize + uint64(ne.Uint32(e[4:])) + uint64(len(k))
		vsize := uint64(ne.Uint32(e[12:]))
		if off+vsize > uint64(len(b)) {
			return fmt.Errorf("%w: %s: bucket %d runs past the page's end", ErrDamaged, name, i)
		}
		if err := s.scanBucket(b[off:off+vsize], id, depth+1); err != nil {
			return err
		}
	}
	// A branch's child i holds the keys from its key up to the next one's.
	for i, k := range keys {
		next := hi
		if i+1 < len(keys) {
			next = keys[i+1]
		}
		child := ne.Uint64(b[pageHeaderSize+uint64(i)*elementSize+8:])
		if err := s.scanPage(child, depth+1, k, next); err != nil {
			return err
		}
	}
	return nil
}

// pageName names a page in an error message: made only when one is.
type pageName struct {
	id     uint64
	inline bool
}

func (n pageName) String() string {
	if n.inline {
		return fmt.Sprintf("page %d (an inline bucket)", n.id)
	}
	return fmt.Sprintf("page %d", n.id)
}

// scanBucket checks a bucket header v, found on page id, and the bucket's pages: its own
// tree, or the page inlined after the header.
func (s *scanner) scanBucket(v []byte, id uint64, depth int) error {
	if len(v) < bucketHeaderSize {
		return fmt.Errorf("%w: page %d: a bucket header cut short", ErrDamaged, id)
	}
	if root := binary.NativeEndian.Uint64(v); root != 0 {
		return s.scanPage(root, depth, nil, nil)
	}
	return s.scanNode(v[bucketHeaderSize:], id, true, depth, nil, nil)
}

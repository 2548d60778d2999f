package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// scanFile is the first step of Verify: it reads the file the way bbolt will, with bounds
// checks, and reports ErrNotBolt or ErrDamaged before bbolt sees a file it could not handle.
//
// bbolt maps the file into memory and follows the page references it finds without checking
// them against the file's size; Tx.Check, which is meant to find damage, walks the pages in a
// goroutine of its own. A corrupt reference there is a read outside the file: a memory fault
// that no recover can catch, and that would kill the process. scanFile walks every page that
// bbolt's check will reach, from the meta page bbolt will choose, and refuses the file if a
// page lies outside the file, is referenced twice (which also stops cycles), has an unknown
// type, or holds elements that reach past its end. Only the layout is checked here; key order
// and the free list's accounting are left to Tx.Check.
//
// The layout is bbolt's file format version 2 (go.etcd.io/bbolt/internal/common), in the
// machine's byte order, as bbolt writes it.
func scanFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	s := &scanner{f: f, size: fi.Size(), seen: make(map[uint64]bool)}
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
	f        *os.File
	size     int64
	pageSize uint64
	hwm      uint64 // the chosen meta's high-water mark: pages [0, hwm) exist
	seen     map[uint64]bool
}

func (s *scanner) scan() error {
	ps, err := s.findPageSize()
	if err != nil {
		return err
	}
	if ps < minPageSize || ps > maxPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("%w: page size %d", ErrDamaged, ps)
	}
	s.pageSize = uint64(ps)
	if uint64(s.size) < 2*s.pageSize {
		return fmt.Errorf("%w: %d bytes, less than two pages of %d", ErrNotBolt, s.size, ps)
	}
	// bbolt takes the valid meta page with the higher transaction id.
	m0, ok0 := s.readMeta(0)
	m1, ok1 := s.readMeta(1)
	var m meta
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return fmt.Errorf("%w: both meta pages are invalid", ErrNotBolt)
	}
	if m.pgid < 2 || m.pgid > uint64(s.size)/s.pageSize {
		return fmt.Errorf("%w: cut short: the meta page counts %d pages of %d bytes, the file has %d bytes",
			ErrDamaged, m.pgid, s.pageSize, s.size)
	}
	s.hwm = m.pgid
	if m.freelist != noFreelist {
		if err := s.scanFreelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root == 0 {
		return fmt.Errorf("%w: the root bucket has no page", ErrDamaged)
	}
	return s.scanPage(m.root, 0)
}

// findPageSize finds the page size as bbolt's Open does: from a valid meta page at the
// start of the file, else from one at a power of two from 1 KiB to 16 MiB, else the
// system's page size if a meta page could at least be read.
func (s *scanner) findPageSize() (int, error) {
	buf := make([]byte, metaProbeSize)
	canRead := false
	if n, err := s.f.ReadAt(buf, 0); err == nil && n == len(buf) {
		canRead = true
		if m, ok := parseMeta(buf); ok {
			return int(m.pageSize), nil
		}
	}
	for i := 0; i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= s.size-1024 {
			break
		}
		n, err := s.f.ReadAt(buf, pos)
		if (err == nil && n == len(buf)) || (errors.Is(err, io.EOF) && int64(n) == s.size-pos) {
			canRead = true
			if m, ok := parseMeta(buf[:n]); ok {
				return int(m.pageSize), nil
			}
		}
	}
	if canRead {
		return os.Getpagesize(), nil
	}
	return 0, fmt.Errorf("%w: no meta page (%d bytes)", ErrNotBolt, s.size)
}

func (s *scanner) readMeta(id uint64) (meta, bool) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if _, err := s.f.ReadAt(buf, int64(id*s.pageSize)); err != nil {
		return meta{}, false
	}
	return parseMeta(buf)
}

// readPage reads page id with its overflow pages, after checking that they lie inside the
// high-water mark, and so inside the file.
func (s *scanner) readPage(id uint64) ([]byte, error) {
	if id < 2 || id >= s.hwm {
		return nil, fmt.Errorf("%w: page %d: out of bounds (%d pages)", ErrDamaged, id, s.hwm)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := s.f.ReadAt(hdr, int64(id*s.pageSize)); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", ErrDamaged, id, err)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("%w: page %d: header says page %d", ErrDamaged, id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= s.hwm {
		return nil, fmt.Errorf("%w: page %d: %d overflow pages run past the end (%d pages)", ErrDamaged, id, overflow, s.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if s.seen[i] {
			return nil, fmt.Errorf("%w: page %d: referenced twice", ErrDamaged, i)
		}
		s.seen[i] = true
	}
	b := make([]byte, (overflow+1)*s.pageSize)
	if _, err := s.f.ReadAt(b, int64(id*s.pageSize)); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", ErrDamaged, id, err)
	}
	return b, nil
}

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
		if len(b) < pageHeaderSize+8 {
			return fmt.Errorf("%w: free list page %d is too short", ErrDamaged, id)
		}
		start, count = 1, ne.Uint64(b[pageHeaderSize:])
	}
	avail := uint64(len(b)-pageHeaderSize) / 8
	if start > avail || count > avail-start {
		return fmt.Errorf("%w: free list page %d: %d ids do not fit in it", ErrDamaged, id, count)
	}
	return nil
}

// maxDepth bounds the nesting of pages and buckets; a real tree is a few levels deep.
const maxDepth = 256

// scanPage checks the branch or leaf page id and everything it references.
func (s *scanner) scanPage(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: page %d: nested more than %d deep", ErrDamaged, id, maxDepth)
	}
	b, err := s.readPage(id)
	if err != nil {
		return err
	}
	return s.scanNode(b, fmt.Sprintf("page %d", id), depth)
}

// scanNode checks the page in b (a page read from the file, or an inline bucket's page),
// whose elements must lie inside b.
func (s *scanner) scanNode(b []byte, name string, depth int) error {
	if len(b) < pageHeaderSize {
		return fmt.Errorf("%w: %s: shorter than a page header", ErrDamaged, name)
	}
	ne := binary.NativeEndian
	flags, count := ne.Uint16(b[8:]), uint64(ne.Uint16(b[10:]))
	if pageHeaderSize+count*elementSize > uint64(len(b)) {
		return fmt.Errorf("%w: %s: %d elements do not fit in it", ErrDamaged, name, count)
	}
	for i := uint64(0); i < count; i++ {
		off := pageHeaderSize + i*elementSize
		e := b[off : off+elementSize]
		switch flags {
		case branchPageFlag:
			pos, ksize := uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
			if off+pos+ksize > uint64(len(b)) {
				return fmt.Errorf("%w: %s: key %d runs past its end", ErrDamaged, name, i)
			}
			if err := s.scanPage(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafPageFlag:
			eflags := ne.Uint32(e[0:])
			pos, ksize, vsize := uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
			end := off + pos + ksize + vsize
			if end > uint64(len(b)) {
				return fmt.Errorf("%w: %s: element %d runs past its end", ErrDamaged, name, i)
			}
			if eflags&bucketLeafFlag == 0 {
				continue
			}
			v := b[off+pos+ksize : end]
			if err := s.scanBucket(v, fmt.Sprintf("%s element %d", name, i), depth+1); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s: unexpected page type %#x", ErrDamaged, name, flags)
		}
	}
	if flags != branchPageFlag && flags != leafPageFlag {
		return fmt.Errorf("%w: %s: unexpected page type %#x", ErrDamaged, name, flags)
	}
	return nil
}

// scanBucket checks a bucket header v and the bucket's pages: its own tree, or the page
// inlined after the header.
func (s *scanner) scanBucket(v []byte, name string, depth int) error {
	if len(v) < bucketHeaderSize {
		return fmt.Errorf("%w: %s: bucket header cut short", ErrDamaged, name)
	}
	if root := binary.NativeEndian.Uint64(v); root != 0 {
		return s.scanPage(root, depth)
	}
	inline := v[bucketHeaderSize:]
	if len(inline) < pageHeaderSize || binary.NativeEndian.Uint16(inline[8:]) != leafPageFlag {
		return fmt.Errorf("%w: %s: inline bucket is not a leaf page", ErrDamaged, name)
	}
	return s.scanNode(inline, name+" (inline)", depth)
}

package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bbolt "go.etcd.io/bbolt"
)

// The segment: where a commit puts the readings of the open chunks.
//
// A commit of the history used to rewrite, in bbolt, the open chunk of every sensor: the
// touched leaf and branch pages of each sensor's bucket, the freelist and a meta page, some
// 50 KB for 3 readings. The segment file, SegmentFileName next to maskservice.db, takes those
// readings instead: each commit appends one record (one 4 KiB page at the defaults) and
// fdatasyncs it. Every so often a checkpoint moves what the records hold into the chunks of
// maskservice.db in one bbolt transaction, which also records how far the segment is moved,
// so that the space can be written again.
//
// # The file
//
// A fixed size, written full of zeros when made: an append neither changes the file's size
// nor allocates a block, so its fdatasync writes the appended pages and nothing else (ext4
// still adds a journal commit of 12 KiB every 5 s, its commit interval; a data partition
// mounted with commit=60 has it once a minute). Records start at 4 KiB boundaries and go
// round the file as a ring: a new record only ever covers pages whose records are already
// moved into maskservice.db, so a write torn by a power cut damages nothing but itself.
//
// A record, little-endian:
//
//	0   4  magic "MSR1"
//	4   4  CRC-32C (Castagnoli) of bytes 8 to the end of the payload
//	8   8  log id: which database file the record belongs to
//	16  8  sequence number: 1, 2, 3, ... one per record, never reused
//	24  4  payload length
//	28     payload: byte version (1), then per sensor: uvarint length, sensor id, uvarint
//	       length, the sensor's readings since the previous record as one chunk (package
//	       store/chunk)
//
// # The checkpoint
//
// maskservice.db's meta bucket holds under keySegment: byte version (1), then uint64
// big-endian each: the log id, the sequence number of the last record whose readings are in
// the chunks, and the offset where the record after it goes (at offset 0 instead when it
// does not fit before the end of the file). Recovery (Open, foldSegment) reads the record
// there, then each next one (at the next 4 KiB boundary, or at offset 0 after the end) while
// it is whole, has the log id and the next sequence number; the first that is not ends the
// segment: a torn or never-written tail, or an older record the ring has not reached yet.

// SegmentFileName is the segment file inside the data directory, beside FileName.
const SegmentFileName = "maskservice.seg"

// keySegment is the meta bucket's key of the checkpoint (segState).
var keySegment = []byte("history_segment")

// Segment limits.
const (
	segmentAlign  = 4096 // records start at page boundaries
	segmentHeader = 28
	segmentMagic  = "MSR1"
	// segmentDefault is the default size: 256 records of one page, which at the default
	// commit interval hold 4 minutes of readings, moved 3 minutes apart (see
	// checkpointFill); the file is 0.13 bytes per reading of a month of 3 sensors at 1 Hz.
	segmentDefault = 1 << 20
	segmentMin     = 2 * segmentAlign
	segmentVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segState is the checkpoint: the records up to Seq are in the database file's chunks, and
// the record after Seq goes at Pos (or 0).
type segState struct {
	LogID uint64
	Seq   uint64
	Pos   int64
}

func getSegState(tx *bbolt.Tx) (segState, bool, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return segState{}, false, nil
	}
	b := meta.Get(keySegment)
	if b == nil {
		return segState{}, false, nil
	}
	if len(b) != 25 || b[0] != segmentVersion {
		return segState{}, false, fmt.Errorf("history segment state: %d bytes of version %d, want 25 of version %d", len(b), b[0], segmentVersion)
	}
	return segState{LogID: binary.BigEndian.Uint64(b[1:]), Seq: binary.BigEndian.Uint64(b[9:]),
		Pos: int64(binary.BigEndian.Uint64(b[17:]))}, true, nil
}

func putSegState(tx *bbolt.Tx, st segState) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("history segment state: no meta bucket")
	}
	b := []byte{segmentVersion}
	b = binary.BigEndian.AppendUint64(b, st.LogID)
	b = binary.BigEndian.AppendUint64(b, st.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(st.Pos))
	return meta.Put(keySegment, b)
}

// alignUp rounds n up to the next record boundary.
func alignUp(n int64) int64 { return (n + segmentAlign - 1) &^ (segmentAlign - 1) }

// segment is the open segment file of a HistoryWriter. It is not safe for concurrent use.
type segment struct {
	f     *os.File
	size  int64
	logID uint64
	seq   uint64 // the last record written (or given up, see broken)
	tail  int64  // where the next record goes if it fits before the end
	// The records after the checkpoint, which must not be written over.
	ckptSeq uint64 // the last record moved into the database file
	first   int64  // where record ckptSeq+1 went; valid while seq > ckptSeq
	wrapped bool   // the records after the checkpoint go on from offset 0
	// broken: a write or fdatasync failed. That record's bytes may reach the disk later,
	// so its sequence number is used up, and nothing more is appended until a checkpoint
	// (which covers it) succeeds: a record after it could be found beside it and replay
	// the same readings twice, or be cut off by its torn bytes.
	broken bool
	buf    []byte
}

// openSegment opens the segment at path for appending after the checkpoint st. A file that
// is missing or of another size than size is made anew (zeros, written through a temporary
// file and renamed); the caller must have moved its records into the database first, which
// Open does. fresh reports a new file: its checkpoint position is then 0.
func openSegment(ctx context.Context, path string, size int64, st segState) (seg *segment, fresh bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Size() != size):
		if err := createSegment(ctx, path, size); err != nil {
			return nil, false, err
		}
		fresh = true
		st.Pos = 0
	case err != nil:
		return nil, false, fmt.Errorf("history segment: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, fmt.Errorf("history segment: %w", err)
	}
	adviseRandom(f)
	if st.Pos < 0 || st.Pos > size {
		st.Pos = 0
	}
	return &segment{f: f, size: size, logID: st.LogID, seq: st.Seq, tail: st.Pos, ckptSeq: st.Seq}, fresh, nil
}

// createSegment writes a segment of size zero bytes at path, in page-sized writes (so that
// the page cache holds it as single pages: a later append then dirties one page, not a
// large folio), through path.tmp, fsynced and renamed. After a crash or a power cut, path is
// missing or whole; a stale path.tmp is replaced next time.
func createSegment(ctx context.Context, path string, size int64) error {
	err := writeAtomic(ctx, path, path+".tmp", func(w io.Writer) error {
		zero := make([]byte, segmentAlign)
		for off := int64(0); off < size; off += segmentAlign {
			if _, err := w.Write(zero[:min(segmentAlign, size-off)]); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("make history segment %s: %w", path, err)
	}
	return nil
}

// Close closes the file.
func (s *segment) Close() error { return s.f.Close() }

// state is the checkpoint to record once everything up to the last record is moved.
func (s *segment) state() segState { return segState{LogID: s.logID, Seq: s.seq, Pos: s.tail} }

// checkpointed notes that everything up to the last record is moved into the database.
func (s *segment) checkpointed() {
	s.ckptSeq, s.wrapped, s.broken = s.seq, false, false
}

// used returns the bytes the records after the checkpoint take.
func (s *segment) used() int64 {
	switch {
	case s.seq == s.ckptSeq:
		return 0
	case s.wrapped:
		return s.size - s.first + s.tail
	default:
		return s.tail - s.first
	}
}

// place returns where a record of n bytes goes, or false if it does not fit in the space
// whose records are moved already.
func (s *segment) place(n int64) (int64, bool) {
	switch {
	case s.broken || n > s.size:
		return 0, false
	case s.seq == s.ckptSeq: // everything is moved: the whole file is free
		if s.tail+n <= s.size {
			return s.tail, true
		}
		return 0, true
	case !s.wrapped:
		if s.tail+n <= s.size {
			return s.tail, true
		}
		if n <= s.first {
			return 0, true
		}
		return 0, false
	default:
		if s.tail+n <= s.first {
			return s.tail, true
		}
		return 0, false
	}
}

// append writes payload as the next record and fdatasyncs it. It returns false, and writes
// nothing, when the record does not fit before the records not yet moved (or after a
// failed write, until the next checkpoint). After a nil error the record survives a power
// cut; after an error it may or may not, and its sequence number is used up.
func (s *segment) append(payload []byte) (bool, error) {
	n := int64(segmentHeader + len(payload))
	off, ok := s.place(n)
	if !ok {
		return false, nil
	}
	rec := append(s.buf[:0], segmentMagic...)
	rec = append(rec, 0, 0, 0, 0) // the checksum, below
	rec = binary.LittleEndian.AppendUint64(rec, s.logID)
	rec = binary.LittleEndian.AppendUint64(rec, s.seq+1)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(len(payload)))
	rec = append(rec, payload...)
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(rec[8:], castagnoli))
	s.buf = rec
	if s.seq == s.ckptSeq {
		s.first, s.wrapped = off, false
	} else if off < s.tail {
		s.wrapped = true
	}
	s.seq++
	s.tail = alignUp(off + n)
	if _, err := s.f.WriteAt(rec, off); err != nil {
		s.broken = true
		return false, fmt.Errorf("append to history segment: %w", err)
	}
	if err := fdatasync(s.f); err != nil {
		s.broken = true
		return false, fmt.Errorf("sync history segment: %w", err)
	}
	return true, nil
}

// scanSegment calls fn with each record after the checkpoint st in the segment file f of
// size bytes, in order, and returns the last record's sequence number and the offset where
// the next one goes (st's when there is none). A record that is torn, of another log, or
// not the next in sequence ends the scan: it is not an error. fn's payload is valid until
// fn returns.
func scanSegment(f *os.File, size int64, st segState, fn func(seq uint64, payload []byte) error) (uint64, int64, error) {
	seq, tail := st.Seq, st.Pos
	var buf []byte
	// Each record takes at least one page, so a chain longer than the file's pages is a
	// bug, not data; the bound keeps a bug from looping.
	for range size/segmentAlign + 1 {
		var payload []byte
		var ok bool
		var err error
		for _, at := range []int64{tail, 0} {
			if payload, buf, ok, err = readRecord(f, size, at, st.LogID, seq+1, buf); err != nil {
				return seq, tail, err
			}
			if ok {
				tail = alignUp(at + segmentHeader + int64(len(payload)))
				break
			}
			if at == 0 {
				break
			}
		}
		if !ok {
			return seq, tail, nil
		}
		seq++
		if err := fn(seq, payload); err != nil {
			return seq, tail, err
		}
	}
	return seq, tail, fmt.Errorf("history segment: more records than pages")
}

// readRecord reads the record at off if it is whole, of logID and numbered seq: its payload
// (in buf, grown as needed) and true; false if it is not.
func readRecord(f *os.File, size, off int64, logID, seq uint64, buf []byte) ([]byte, []byte, bool, error) {
	if off < 0 || off+segmentHeader > size {
		return nil, buf, false, nil
	}
	var h [segmentHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, buf, false, fmt.Errorf("read history segment at %d: %w", off, err)
	}
	n := int64(binary.LittleEndian.Uint32(h[24:]))
	if string(h[:4]) != segmentMagic || binary.LittleEndian.Uint64(h[8:]) != logID ||
		binary.LittleEndian.Uint64(h[16:]) != seq || off+segmentHeader+n > size {
		return nil, buf, false, nil
	}
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	payload := buf[:n]
	if _, err := f.ReadAt(payload, off+segmentHeader); err != nil {
		return nil, buf, false, fmt.Errorf("read history segment at %d: %w", off, err)
	}
	crc := crc32.Update(crc32.Checksum(h[8:], castagnoli), castagnoli, payload)
	if crc != binary.LittleEndian.Uint32(h[4:]) {
		return nil, buf, false, nil
	}
	return payload, buf, true, nil
}

// segmentPath is the segment file beside the database file at dbPath.
func segmentPath(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), SegmentFileName) }

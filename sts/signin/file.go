package signin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// DefaultMaxFileBytes is the default size at which a File rotates.
const DefaultMaxFileBytes = 10 << 20

// File appends records as JSON lines to a file (mode 0600). When a record
// would take the file past its maximum size, the file is renamed to
// path+".1" (replacing the previous one) and a new file is started, so the
// log never takes more than twice the maximum on disk. (A hand-written
// writer rather than lumberjack: that rotates at whole megabytes, with
// background goroutines, and this needs one rename.)
type File struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

// OpenFile opens path for appending, rotating at maxBytes (≤ 0: DefaultMaxFileBytes).
func OpenFile(path string, maxBytes int64) (*File, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFileBytes
	}
	w := &File{path: path, max: maxBytes}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *File) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("sign-in log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("sign-in log: %w", err)
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write appends r as one JSON line, rotating first when needed.
func (w *File) Write(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("sign-in log: file is closed")
	}
	if w.size > 0 && w.size+int64(len(b)) > w.max {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b)
	w.size += int64(n)
	return err
}

func (w *File) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("sign-in log: %w", err)
	}
	w.f = nil
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("sign-in log: rotating: %w", err)
	}
	return w.open()
}

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// ReadFile reads the records of a File at path (the rotated part first),
// keeping those that match app and failedOnly (see Record.Matches). A line
// that is not a record (such as one cut short by a crash) is skipped. A
// missing file is an error wrapping fs.ErrNotExist.
func ReadFile(path string, app string, failedOnly bool) ([]*Record, error) {
	var out []*Record
	found := false
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sign-in log: %w", err)
		}
		found = true
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			r := new(Record)
			if json.Unmarshal(sc.Bytes(), r) == nil && r.Matches(app, failedOnly) {
				out = append(out, r)
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("sign-in log %s: %w", p, err)
		}
	}
	if !found {
		return nil, fmt.Errorf("sign-in log %s: %w", path, fs.ErrNotExist)
	}
	return out, nil
}

package testcluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// A manager started with Options.ManagerDisk > 0 writes its logs to a tmpfs
// of that size mounted at <Dir>/<name>.disk (its --log-dir is
// <Dir>/<name>.disk/logs), so that a test can fill the disk (FillDisk) and
// free it again (FreeDisk). The filler is <Dir>/<name>.disk/fill, beside the
// log directory, never in it. Close copies the logs to <Dir>/<name>/ and
// unmounts the tmpfs.

// ErrDisk wraps errors of the managers' small disks.
var ErrDisk = errors.New("testcluster: disk")

// tmpDisk is one manager's tmpfs. Safe for concurrent use.
type tmpDisk struct {
	mnt  string
	size int64

	mu     sync.Mutex
	filled int64 // bytes in the filler file
}

func (d *tmpDisk) logDir() string { return filepath.Join(d.mnt, "logs") }
func (d *tmpDisk) filler() string { return filepath.Join(d.mnt, "fill") }

// mountDisk mounts a tmpfs of size bytes at mnt (created if missing).
func mountDisk(mnt string, size int64) (*tmpDisk, error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+strconv.FormatInt(size, 10)); err != nil {
		return nil, fmt.Errorf("%w: mount tmpfs of %d bytes at %s: %w", ErrDisk, size, mnt, err)
	}
	d := &tmpDisk{mnt: mnt, size: size}
	if err := os.MkdirAll(d.logDir(), 0o755); err != nil {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		return nil, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	return d, nil
}

// fill writes the filler file until the file system has no free block left
// and returns the filler's size.
func (d *tmpDisk) fill() (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := os.OpenFile(d.filler(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return d.filled, fmt.Errorf("%w: %w", ErrDisk, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for _, chunk := range []int{1 << 20, 4096, 1} {
		for {
			n, err := f.Write(buf[:chunk])
			d.filled += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return d.filled, fmt.Errorf("%w: fill %s: %w", ErrDisk, d.mnt, err)
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.mnt, &st); err == nil && st.Bavail != 0 {
		return d.filled, fmt.Errorf("%w: %s still has %d free blocks after filling", ErrDisk, d.mnt, st.Bavail)
	}
	return d.filled, nil
}

// free removes the filler file.
func (d *tmpDisk) free() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.Remove(d.filler()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrDisk, err)
	}
	d.filled = 0
	return nil
}

// unmount copies the logs to keep (a directory, created) and unmounts the
// tmpfs; the manager must have exited.
func (d *tmpDisk) unmount(keep string) error {
	cerr := copyDir(d.logDir(), keep)
	if err := syscall.Unmount(d.mnt, 0); err != nil {
		// Busy (a process still has a file open): detach it lazily.
		if err2 := syscall.Unmount(d.mnt, syscall.MNT_DETACH); err2 != nil {
			return errors.Join(cerr, fmt.Errorf("%w: unmount %s: %w", ErrDisk, d.mnt, err2))
		}
	}
	os.Remove(d.mnt)
	return cerr
}

// copyDir copies the regular files of src (recursively) into dst.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

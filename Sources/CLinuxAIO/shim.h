// Linux native asynchronous I/O (io_setup / io_submit / io_getevents) for O_DIRECT reads. glibc has no
// wrappers for these system calls and Swift cannot call the variadic syscall(), so these inline functions
// make the calls; the kernel ABI is <linux/aio_abi.h> (Debian's linux-libc-dev). No library is linked.
// Each returns what the system call returns: -1 with errno set on failure.
#pragma once
#ifdef __linux__
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long swapmoe_io_setup(unsigned int events, aio_context_t *ctx) {
    return syscall(SYS_io_setup, events, ctx);
}

static inline long swapmoe_io_destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }

static inline long swapmoe_io_submit(aio_context_t ctx, long count, struct iocb **iocbs) {
    return syscall(SYS_io_submit, ctx, count, iocbs);
}

/// Waits (no timeout) for at least `min` completions and returns up to `max` of them.
static inline long swapmoe_io_getevents(aio_context_t ctx, long min, long max, struct io_event *events) {
    return syscall(SYS_io_getevents, ctx, min, max, events, (struct timespec *)0);
}

/// Fills `cb` with "read `count` bytes at `offset` of `fd` into `buffer`"; `tag` comes back in the event.
static inline void swapmoe_iocb_pread(struct iocb *cb, int fd, void *buffer, unsigned long long count,
                                      long long offset, unsigned long long tag) {
    memset(cb, 0, sizeof *cb);
    cb->aio_data = tag;
    cb->aio_lio_opcode = IOCB_CMD_PREAD;
    cb->aio_fildes = (unsigned int)fd;
    cb->aio_buf = (unsigned long long)(unsigned long)buffer;
    cb->aio_nbytes = count;
    cb->aio_offset = offset;
}
#endif

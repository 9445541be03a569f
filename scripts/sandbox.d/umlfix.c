/*
 * LD_PRELOAD shim for Debian's linux.uml (6.1) on hosts with large XSAVE areas (AVX-512, AMX).
 *
 * UML 6.1 saves and restores a guest process's FPU state with PTRACE_{GET,SET}REGSET
 * NT_X86_XSTATE using a fixed 832-byte buffer (legacy area + header + AVX). The host kernel
 * rejects a SETREGSET whose length differs from its full XSAVE size with EFAULT, so on such
 * hosts UML dies at its first context switch ("ptrace set fp regs failed, errno = 14").
 * This shim pads the write: it reads the full state, lays UML's bytes over its start and
 * writes the whole. State past UML's buffer (AVX-512, AMX) is then not switched between
 * guest processes, so scripts/sandbox also tells the guest's glibc not to use AVX-512.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define NT_X86_XSTATE 0x202

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

long ptrace(enum __ptrace_request req, ...)
{
    static ptrace_fn real;
    static unsigned char full[65536] __attribute__((aligned(64)));
    va_list ap;

    va_start(ap, req);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (!real)
        real = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    if (req == PTRACE_SETREGSET && (long)addr == NT_X86_XSTATE) {
        struct iovec *iov = data;
        struct iovec whole = { full, sizeof full };

        if (real(PTRACE_GETREGSET, pid, addr, &whole) == 0 && whole.iov_len > iov->iov_len) {
            memcpy(full, iov->iov_base, iov->iov_len);
            return real(req, pid, addr, &whole);
        }
    }
    return real(req, pid, addr, data);
}

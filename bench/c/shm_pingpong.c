// The hardware reference for `parley bench ipc --pattern pingpong --wait spin`: two processes
// (fork) bounce a counter through one shared cache line each way, spinning, no library code.
// Build and run: gcc -O2 -o /tmp/shm_pingpong bench/c/shm_pingpong.c && /tmp/shm_pingpong 3
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
    _Alignas(128) _Atomic long ping;
    _Alignas(128) _Atomic long pong;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) { perror("mmap"); return 1; }
    atomic_store(&s->ping, 0);
    atomic_store(&s->pong, 0);
    pid_t child = fork();
    if (child == 0) {
        for (long expected = 1;; expected++) {
            long v;
            while ((v = atomic_load_explicit(&s->ping, memory_order_acquire)) < expected && v >= 0) { __builtin_ia32_pause(); }
            if (v < 0) return 0;
            atomic_store_explicit(&s->pong, v, memory_order_release);
        }
    }
    long trips = 0;
    double start = now(), end = start + seconds, t = start;
    while (t < end) {
        for (int i = 0; i < 1024; i++) {
            trips++;
            atomic_store_explicit(&s->ping, trips, memory_order_release);
            while (atomic_load_explicit(&s->pong, memory_order_acquire) != trips) { __builtin_ia32_pause(); }
        }
        t = now();
    }
    atomic_store(&s->ping, -1);
    waitpid(child, NULL, 0);
    printf("{\"round_trips_per_s\": %.0f, \"ns_per_round_trip\": %.1f}\n", trips / (t - start), (t - start) * 1e9 / trips);
    return 0;
}

/* Peak arithmetic rate of one core: fp32 fused multiply-add (AVX-512 vfmadd, 32 flops per instruction) and bf16 dot
 * product (AVX512-BF16 vdpbf16ps, 64 flops per instruction), each with 12 independent accumulators so that only the
 * instructions' throughput limits the loop. Used by bench/cpu-peak.ts to explain what bf16 can gain on a CPU.
 * Prints JSON: {"fp32": GFLOP/s, "bf16": GFLOP/s}. Build: cc -O3 -mavx512f -mavx512bf16 cpu-peak.c */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

#define ACC 12
#define ITERS 100000000L

int main(void) {
  __m512 a[ACC];
  float sink = 0;
  for (int i = 0; i < ACC; i++) a[i] = _mm512_setzero_ps();
  const __m512 x = _mm512_set1_ps(1e-9f), y = _mm512_set1_ps(1.0f);
  double t = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < ACC; i++) a[i] = _mm512_fmadd_ps(x, y, a[i]);
  const double fp32 = ITERS * ACC * 32.0 / (now() - t) / 1e9;
  for (int i = 0; i < ACC; i++) sink += _mm512_reduce_add_ps(a[i]);

  for (int i = 0; i < ACC; i++) a[i] = _mm512_setzero_ps();
  const __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3000), by = (__m512bh)_mm512_set1_epi16(0x3f80);
  t = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < ACC; i++) a[i] = _mm512_dpbf16_ps(a[i], bx, by);
  const double bf16 = ITERS * ACC * 64.0 / (now() - t) / 1e9;
  for (int i = 0; i < ACC; i++) sink += _mm512_reduce_add_ps(a[i]);

  printf("{\"fp32\": %.1f, \"bf16\": %.1f, \"sink\": %g}\n", fp32, bf16, (double)sink);
  return 0;
}

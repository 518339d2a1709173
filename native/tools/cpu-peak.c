/* Peak arithmetic rate of one core: fp32 fused multiply-add with AVX2 (256-bit vfmadd, 16 flops per instruction) and
 * AVX-512 (512-bit, 32 flops), and bf16 dot product (AVX512-BF16 vdpbf16ps, 64 flops per instruction), each with 12
 * independent accumulators so that only the instructions' throughput limits the loop. Each runs only where the CPU
 * has it (checked at run time; the build assumes nothing). Used by bench/cpu-peak.ts: what bf16 can gain next to
 * fp32, and the AVX2 roofline that bounds any implementation on an AVX2-only CPU.
 * Prints JSON: {"fp32Avx2": GFLOP/s, "fp32": GFLOP/s | null, "bf16": GFLOP/s | null}. Build: cc -O3 cpu-peak.c */
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
static float sink = 0;

__attribute__((target("avx2,fma"))) static double fp32Avx2(void) {
  __m256 a[ACC];
  for (int i = 0; i < ACC; i++) a[i] = _mm256_setzero_ps();
  const __m256 x = _mm256_set1_ps(1e-9f), y = _mm256_set1_ps(1.0f);
  double t = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < ACC; i++) a[i] = _mm256_fmadd_ps(x, y, a[i]);
  const double r = ITERS * ACC * 16.0 / (now() - t) / 1e9;
  float out[8];
  for (int i = 0; i < ACC; i++) {
    _mm256_storeu_ps(out, a[i]);
    sink += out[0];
  }
  return r;
}

__attribute__((target("avx512f"))) static double fp32Avx512(void) {
  __m512 a[ACC];
  for (int i = 0; i < ACC; i++) a[i] = _mm512_setzero_ps();
  const __m512 x = _mm512_set1_ps(1e-9f), y = _mm512_set1_ps(1.0f);
  double t = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < ACC; i++) a[i] = _mm512_fmadd_ps(x, y, a[i]);
  const double r = ITERS * ACC * 32.0 / (now() - t) / 1e9;
  for (int i = 0; i < ACC; i++) sink += _mm512_reduce_add_ps(a[i]);
  return r;
}

__attribute__((target("avx512f,avx512bf16"))) static double bf16Avx512(void) {
  __m512 a[ACC];
  for (int i = 0; i < ACC; i++) a[i] = _mm512_setzero_ps();
  const __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3000), by = (__m512bh)_mm512_set1_epi16(0x3f80);
  double t = now();
  for (long k = 0; k < ITERS; k++)
    for (int i = 0; i < ACC; i++) a[i] = _mm512_dpbf16_ps(a[i], bx, by);
  const double r = ITERS * ACC * 64.0 / (now() - t) / 1e9;
  for (int i = 0; i < ACC; i++) sink += _mm512_reduce_add_ps(a[i]);
  return r;
}

static void field(const char* name, int have, double (*f)(void), const char* sep) {
  if (have)
    printf("\"%s\": %.1f%s", name, f(), sep);
  else
    printf("\"%s\": null%s", name, sep);
}

int main(void) {
  __builtin_cpu_init();
  printf("{");
  field("fp32Avx2", __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), fp32Avx2, ", ");
  field("fp32", __builtin_cpu_supports("avx512f"), fp32Avx512, ", ");
  field("bf16", __builtin_cpu_supports("avx512bf16"), bf16Avx512, ", ");
  printf("\"sink\": %g}\n", (double)sink);
  return 0;
}

#include "util/sha256_x86.hpp"

#include "util/sha256_constants.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace undocker {

#if defined(__x86_64__) || defined(__i386__)

bool cpu_has_sha_ni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool ssse3 = (ecx & (1u << 9)) != 0;
  const bool sse41 = (ecx & (1u << 19)) != 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool sha = (ebx & (1u << 29)) != 0;
  return ssse3 && sse41 && sha;
}

// The SHA-NI round instruction works on the state split as {A,B,E,F} and
// {C,D,G,H}; each sha256rnds2 does two rounds, so four words of schedule
// feed two calls. sha256msg1/msg2 compute the sigma0 and sigma1 parts of
// the schedule (FIPS 180-4 6.2.2 step 1) four words at a time.
__attribute__((target("sha,sse4.1,ssse3")))
void sha256_compress_sha_ni(std::uint32_t state[8], const std::uint8_t* blocks, std::size_t block_count) {
  const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state));
  __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(state + 4));
  // {a,b,c,d},{e,f,g,h} (lane 0 first) → {f,e,b,a} and {h,g,d,c} as the
  // instructions index them (lane 3 = A).
  __m128i cdab = _mm_shuffle_epi32(abcd, 0xB1);
  __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B);
  __m128i abef = _mm_alignr_epi8(cdab, hgfe, 8);
  __m128i cdgh = _mm_blend_epi16(hgfe, cdab, 0xF0);

  for (; block_count > 0; --block_count, blocks += 64) {
    const __m128i saved_abef = abef;
    const __m128i saved_cdgh = cdgh;
    __m128i schedule[4];
    for (int group = 0; group < 16; ++group) {
      __m128i& words = schedule[group & 3];
      if (group < 4) {
        words = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks + 16 * group)), byte_swap);
      } else {
        // W[t..t+3] from W[t-16..t-13], W[t-12..t-9], W[t-7..t-4], W[t-2..t-1].
        __m128i next = _mm_sha256msg1_epu32(schedule[group & 3], schedule[(group + 1) & 3]);
        next = _mm_add_epi32(next, _mm_alignr_epi8(schedule[(group + 3) & 3], schedule[(group + 2) & 3], 4));
        words = _mm_sha256msg2_epu32(next, schedule[(group + 3) & 3]);
      }
      __m128i with_constants =
          _mm_add_epi32(words, _mm_load_si128(reinterpret_cast<const __m128i*>(kSha256RoundConstants + 4 * group)));
      // Two rounds turn the old {A,B,E,F} into the new {C,D,G,H}, so the
      // registers trade roles and are back in place after the second call.
      cdgh = _mm_sha256rnds2_epu32(cdgh, abef, with_constants);
      with_constants = _mm_shuffle_epi32(with_constants, 0x0E);
      abef = _mm_sha256rnds2_epu32(abef, cdgh, with_constants);
    }
    abef = _mm_add_epi32(abef, saved_abef);
    cdgh = _mm_add_epi32(cdgh, saved_cdgh);
  }

  const __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
  const __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(state + 4), _mm_alignr_epi8(dchg, feba, 8));
}

#else

bool cpu_has_sha_ni() { return false; }
void sha256_compress_sha_ni(std::uint32_t*, const std::uint8_t*, std::size_t) {}

#endif

}  // namespace undocker

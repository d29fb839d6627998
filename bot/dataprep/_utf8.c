/* Where a buffer stops being valid UTF-8: the validator's no-token path checks every byte of a file.
 *
 * CPython's fastest check in the standard library is decoding (`str(piece, "utf-8")`): it builds a str it
 * throws away, widening it to 2 or 4 bytes a character at the first CJK character or emoji, ~5.6
 * instructions a byte on realistic training data. This only reads. Where the CPU has AVX2 (x86-64 since
 * 2013-2015), 32 bytes at a time with the "lookup" algorithm of simdjson and simdutf (Keiser and
 * Lemire, "Validating UTF-8 in less than one instruction per byte", 2021); it says only whether a stretch
 * is valid, so the stretch that is not is walked byte by byte, which finds where. That walk is also the
 * whole check elsewhere. Both accept exactly the well-formed sequences of the Unicode Standard's Table 3-7,
 * as CPython's decoder does (no surrogates, no overlong forms, nothing past U+10FFFF): the tests compare
 * them with CPython's decoder on every sequence of up to three bytes and on random buffers.
 *
 * Optional at install time: without a C compiler the validator falls back to CPython's decoder.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
#else
#define HAVE_AVX2_PATH 0
#endif

#define HIGH_BITS 0x8080808080808080ULL

static inline uint64_t load64(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, sizeof word); /* an unaligned load on every platform the compiler knows */
    return word;
}

/* The length of the well-formed sequence at s[0..n) (n >= 1, s[0] >= 0x80), or 0 when it is not one. */
static inline Py_ssize_t sequence_length(const unsigned char *s, Py_ssize_t n) {
    unsigned char lead = s[0];
    if (lead < 0xC2) {
        return 0; /* a continuation byte, or C0/C1 (overlong forms of ASCII) */
    }
    if (lead < 0xE0) {
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (lead < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80) {
            return 0;
        }
        /* E0 needs A0..BF (shorter forms are overlong), ED needs 80..9F (A0..BF would be surrogates) */
        unsigned char lo = lead == 0xE0 ? 0xA0 : 0x80;
        unsigned char hi = lead == 0xED ? 0x9F : 0xBF;
        return (s[1] >= lo && s[1] <= hi) ? 3 : 0;
    }
    if (lead < 0xF5) {
        if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) {
            return 0;
        }
        /* F0 needs 90..BF (overlong below), F4 needs 80..8F (past U+10FFFF above) */
        unsigned char lo = lead == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = lead == 0xF4 ? 0x8F : 0xBF;
        return (s[1] >= lo && s[1] <= hi) ? 4 : 0;
    }
    return 0; /* F5..FF start nothing */
}

/* The offset of the first byte of the first ill-formed sequence in s[0..n), or -1 when all is well-formed.
 * s[0] must start a character (or be ASCII). */
static Py_ssize_t walk(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            /* ASCII runs are most of the bytes: skip them 32 and then 8 at a time */
            while (i + 32 <= n &&
                   ((load64(s + i) | load64(s + i + 8) | load64(s + i + 16) | load64(s + i + 24)) & HIGH_BITS) == 0) {
                i += 32;
            }
            while (i + 8 <= n && (load64(s + i) & HIGH_BITS) == 0) {
                i += 8;
            }
            while (i < n && s[i] < 0x80) {
                i++;
            }
            continue;
        }
        Py_ssize_t length = sequence_length(s + i, n - i);
        if (length == 0) {
            return i;
        }
        i += length;
    }
    return -1;
}

#if HAVE_AVX2_PATH
#define AVX2 __attribute__((target("avx2")))

/* The error classes of the lookup algorithm: a byte pair's classes by the first byte's high nibble, its
 * low nibble and the second byte's high nibble are ANDed; any bit left is an error. */
#define TOO_SHORT (1 << 0)  /* 11______ then 0_______ or 11______ */
#define TOO_LONG (1 << 1)   /* 0_______ then 10______ */
#define OVERLONG_3 (1 << 2) /* 11100000 100_____ */
#define TOO_LARGE (1 << 3)  /* 11110100 1001____ and above */
#define SURROGATE (1 << 4)  /* 11101101 101_____ */
#define OVERLONG_2 (1 << 5) /* 1100000_ 10______ */
#define TOO_LARGE_1000 (1 << 6)
#define OVERLONG_4 (1 << 6) /* 11110000 1000____ */
#define TWO_CONTS (1 << 7)  /* 10______ 10______ (allowed only as a 3rd or 4th byte: checked apart) */
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)
#define LARGE (CARRY | TOO_LARGE | TOO_LARGE_1000)

/* A 16-entry table for _mm256_shuffle_epi8, which looks up within each 128-bit lane: in both lanes. */
#define TABLE(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)

AVX2 static inline __m256i high_nibbles(__m256i v) {
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

/* `input` shifted right by n bytes (1 to 3) across the two lanes, the last n bytes of `previous` entering. */
#define PREVIOUS(input, previous, n) \
    _mm256_alignr_epi8((input), _mm256_permute2x128_si256((previous), (input), 0x21), 16 - (n))

/* The error bits of the 32 bytes of `input`, given the 32 before them. */
AVX2 static inline __m256i block_errors(__m256i input, __m256i previous) {
    const __m256i byte_1_high = TABLE(
        TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, /* ASCII */
        TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,                                     /* continuation */
        TOO_SHORT | OVERLONG_2,                                                         /* 1100 */
        TOO_SHORT,                                                                      /* 1101 */
        TOO_SHORT | OVERLONG_3 | SURROGATE,                                             /* 1110 */
        TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4);                           /* 1111 */
    const __m256i byte_1_low = TABLE(
        CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY, CARRY | TOO_LARGE,
        LARGE, LARGE, LARGE, LARGE, LARGE, LARGE, LARGE, LARGE, LARGE | SURROGATE, LARGE, LARGE);
    const __m256i byte_2_high = TABLE(
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, /* ASCII */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4),   /* 1000 */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE),                     /* 1001 */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),                      /* 101_ */
        (char)(TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE),
        TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT);                                            /* 11__ */
    __m256i prev1 = PREVIOUS(input, previous, 1);
    __m256i special = _mm256_and_si256(
        _mm256_and_si256(_mm256_shuffle_epi8(byte_1_high, high_nibbles(prev1)),
                         _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
        _mm256_shuffle_epi8(byte_2_high, high_nibbles(input)));
    /* A continuation after a continuation is right only as the 3rd byte after 111_____ or the 4th after
     * 1111____: those bytes must be continuations, and TWO_CONTS (0x80) marks exactly the others. */
    __m256i third = _mm256_subs_epu8(PREVIOUS(input, previous, 2), _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(PREVIOUS(input, previous, 3), _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must_continue, special);
}

/* Non-zero where the last bytes of 32 start a sequence that needs bytes past them. */
AVX2 static inline __m256i incomplete_at_end(__m256i input) {
    const __m256i max = _mm256_setr_epi8(
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255, (char)255,
        (char)255, (char)255, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    return _mm256_subs_epu8(input, max);
}

AVX2 static inline int any(__m256i v) { return !_mm256_testz_si256(v, v); }

/* Where the character that holds s[i] starts, for a valid s[0..i) but for its last character (which may be
 * cut at i): at most 3 bytes back. */
static inline Py_ssize_t character_start(const unsigned char *s, Py_ssize_t i) {
    for (Py_ssize_t k = 1; k <= 3 && i - k >= 0; k++) {
        if ((s[i - k] & 0xC0) != 0x80) {
            return s[i - k] >= 0xC0 ? i - k : i;
        }
    }
    return i;
}

/* Whether all of s[0..n) is valid, checked 64 bytes at a time; when not, *bad is where to walk from: a
 * character's start at most 3 bytes before the 64 bytes where the error showed (all before is valid). */
AVX2 static int valid_blocks(const unsigned char *s, Py_ssize_t n, Py_ssize_t *bad) {
    __m256i previous = _mm256_setzero_si256();
    __m256i incomplete = _mm256_setzero_si256();
    __m256i error = _mm256_setzero_si256();
    unsigned char tail[64];
    for (Py_ssize_t i = 0; i < n; i += 64) {
        const unsigned char *chunk = s + i;
        if (n - i < 64) { /* the last bytes, padded with ASCII: a sequence cut short there is TOO_SHORT */
            memset(tail, ' ', sizeof tail);
            memcpy(tail, chunk, (size_t)(n - i));
            chunk = tail;
        }
        for (int k = 0; k < 64; k += 32) {
            __m256i input = _mm256_loadu_si256((const __m256i *)(chunk + k));
            if (_mm256_movemask_epi8(input) == 0) {
                error = _mm256_or_si256(error, incomplete); /* ASCII cannot complete what came before */
                incomplete = _mm256_setzero_si256();
            } else {
                error = _mm256_or_si256(error, block_errors(input, previous));
                incomplete = incomplete_at_end(input);
            }
            previous = input;
        }
        if (any(error)) {
            *bad = character_start(s, i);
            return 0;
        }
    }
    /* A sequence cut by the end: in a padded last chunk it showed as TOO_SHORT; after a full one, here. */
    if (any(incomplete)) {
        *bad = character_start(s, n - 32);
        return 0;
    }
    return 1;
}

static int has_avx2 = 0;
#endif

static Py_ssize_t first_invalid(const unsigned char *s, Py_ssize_t n) {
#if HAVE_AVX2_PATH
    if (has_avx2) {
        Py_ssize_t from = 0;
        if (valid_blocks(s, n, &from)) {
            return -1;
        }
        Py_ssize_t at = walk(s + from, n - from);
        return at < 0 ? -1 : from + at;
    }
#endif
    return walk(s, n);
}

typedef Py_ssize_t (*checker)(const unsigned char *, Py_ssize_t);

/* (buffer, start, stop) -> the absolute offset of the first ill-formed sequence, or -1. */
static PyObject *call_checker(checker check, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "expected 3 arguments: (buffer, start, stop)");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t stop = PyLong_AsSsize_t(args[2]);
    if (stop == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (start < 0 || stop > view.len || start > stop) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_IndexError, "start and stop must satisfy 0 <= start <= stop <= len(buffer)");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)view.buf + start;
    Py_ssize_t n = stop - start;
    Py_ssize_t at;
    if (n >= (1 << 16)) { /* long enough to let other threads run meanwhile (the bot validates in one) */
        Py_BEGIN_ALLOW_THREADS at = check(s, n);
        Py_END_ALLOW_THREADS
    } else {
        at = check(s, n);
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(at < 0 ? -1 : start + at);
}

PyDoc_STRVAR(first_invalid_doc,
             "first_invalid(buffer, start, stop, /)\n--\n\n"
             "The offset of the first byte of the first sequence in buffer[start:stop] that is not well-formed\n"
             "UTF-8 (what CPython's decoder reports as the error's start), or -1 when there is none. A sequence\n"
             "cut short by `stop` is ill-formed. buffer[start] must not be inside a character.");

static PyObject *py_first_invalid(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return call_checker(first_invalid, args, nargs);
}

PyDoc_STRVAR(first_invalid_bytewise_doc,
             "first_invalid_bytewise(buffer, start, stop, /)\n--\n\n"
             "first_invalid without SIMD: the same answers, for the tests to compare.");

static PyObject *py_first_invalid_bytewise(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    return call_checker(walk, args, nargs);
}

static PyMethodDef methods[] = {
    {"first_invalid", (PyCFunction)(void (*)(void))py_first_invalid, METH_FASTCALL, first_invalid_doc},
    {"first_invalid_bytewise", (PyCFunction)(void (*)(void))py_first_invalid_bytewise, METH_FASTCALL,
     first_invalid_bytewise_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_utf8",
    .m_doc = "A read-only UTF-8 check for the validator's no-token path.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__utf8(void) {
#if HAVE_AVX2_PATH
    __builtin_cpu_init();
    has_avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
#if HAVE_AVX2_PATH
    int simd = has_avx2;
#else
    int simd = 0;
#endif
    if (PyModule_AddIntConstant(m, "SIMD", simd) < 0) { /* whether first_invalid uses AVX2 here */
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

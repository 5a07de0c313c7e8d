# Declarations of the C kernels in src/, shared by the Cython modules.

from libc.stdint cimport uint8_t, uint16_t, uint32_t

# Buffers at least this long are masked or validated with the GIL released
# (through a buffer export, which pins a bytearray's storage while we work);
# below it, releasing and taking back the GIL costs more than it lets run.
cdef enum:
    NOGIL_THRESHOLD = 262144

cdef extern from "wsf_cpu.h":
    unsigned wsf_cpu_features() nogil

cdef extern from "mask.h":
    ctypedef void (*wsf_mask_fn)(unsigned char *dst, const unsigned char *src, size_t n,
                                 const unsigned char *key, size_t phase) noexcept nogil
    void wsf_mask(unsigned char *dst, const unsigned char *src, size_t n,
                  const unsigned char *key, size_t phase) noexcept nogil
    wsf_mask_fn wsf_mask_kernel(int index, const char **name) noexcept nogil
    const char *wsf_mask_best_name() noexcept nogil
    wsf_mask_fn wsf_mask_best() noexcept nogil
    enum: WSF_MASK_SHORT
    unsigned int wsf_mask_word32(const unsigned char *key, size_t phase) noexcept nogil
    void wsf_mask_short(unsigned char *dst, const unsigned char *src, size_t n,
                        unsigned int word32) noexcept nogil

cdef extern from "utf8.h":
    ctypedef struct wsf_utf8_state:  # plain data: zero it or call wsf_utf8_init
        unsigned int need
        unsigned char lo, hi
        unsigned char failed
    ctypedef int (*wsf_utf8_fn)(const unsigned char *buf, size_t n) noexcept nogil
    int wsf_utf8_validate(const unsigned char *buf, size_t n) noexcept nogil
    void wsf_utf8_init(wsf_utf8_state *st) noexcept nogil
    int wsf_utf8_feed(wsf_utf8_state *st, const unsigned char *buf, size_t n) noexcept nogil
    int wsf_utf8_finish(const wsf_utf8_state *st) noexcept nogil
    wsf_utf8_fn wsf_utf8_kernel(int index, const char **name) noexcept nogil
    const char *wsf_utf8_best_name() noexcept nogil

cdef extern from "utf8_decode.h":
    ctypedef struct wsf_utf8_info:
        size_t chars
        unsigned char max
    ctypedef struct wsf_utf8_decoder:
        const char *name
        int (*scan)(const unsigned char *s, size_t n, wsf_utf8_info *info) noexcept nogil
        void (*to_ucs1)(const unsigned char *s, size_t n, uint8_t *out, size_t chars) noexcept nogil
        void (*to_ucs2)(const unsigned char *s, size_t n, uint16_t *out, size_t chars) noexcept nogil
        void (*to_ucs4)(const unsigned char *s, size_t n, uint32_t *out, size_t chars) noexcept nogil
    int wsf_utf8_width(unsigned char max) noexcept nogil
    const wsf_utf8_decoder *wsf_utf8_decoder_best() noexcept nogil
    const wsf_utf8_decoder *wsf_utf8_decoder_kernel(int index) noexcept nogil

cdef extern from "deflate.h":
    enum:
        WSF_Z_OK
        WSF_Z_END
        WSF_Z_ERROR
        WSF_Z_NOMEM
    ctypedef struct wsf_inflater:
        pass
    ctypedef struct wsf_deflater:
        pass
    int wsf_zlib_linked() noexcept nogil
    const char *wsf_zlib_version() noexcept nogil
    wsf_inflater *wsf_inflater_new(int window_bits) noexcept nogil
    void wsf_inflater_free(wsf_inflater *z) noexcept nogil
    wsf_inflater *wsf_inflater_take(int window_bits) noexcept nogil
    void wsf_inflater_give(wsf_inflater *z) noexcept nogil
    int wsf_inflate(wsf_inflater *z, const unsigned char **inp, size_t *in_len, unsigned char **out,
                    size_t *out_len) noexcept nogil
    const char *wsf_inflate_error(const wsf_inflater *z) noexcept nogil
    int wsf_inflater_reset(wsf_inflater *z, int keep_window) noexcept nogil
    size_t wsf_inflater_window(wsf_inflater *z, unsigned char *buf) noexcept nogil
    int wsf_inflater_set_window(wsf_inflater *z, const unsigned char *buf, size_t n) noexcept nogil
    wsf_deflater *wsf_deflater_new(int window_bits, int mem_level, int level) noexcept nogil
    void wsf_deflater_free(wsf_deflater *z) noexcept nogil
    wsf_deflater *wsf_deflater_take(int window_bits, int mem_level, int level) noexcept nogil
    void wsf_deflater_give(wsf_deflater *z) noexcept nogil
    size_t wsf_deflate_bound(wsf_deflater *z, size_t n) noexcept nogil
    int wsf_deflate(wsf_deflater *z, const unsigned char **inp, size_t *in_len, unsigned char **out,
                    size_t *out_len, int sync_flush) noexcept nogil
    int wsf_deflater_reset(wsf_deflater *z) noexcept nogil

cdef extern from "wsf_header.h":
    ctypedef struct wsf_header:
        unsigned char b0
        unsigned char masked
        unsigned char key[4]
        unsigned long long length
    enum:
        WSF_HDR_E_RESERVED_OPCODE
        WSF_HDR_E_FRAGMENTED_CONTROL
        WSF_HDR_E_CONTROL_TOO_LONG
        WSF_HDR_E_RSV_CONTROL
        WSF_HDR_E_DATA_IN_MESSAGE
        WSF_HDR_E_RSV_UNOWNED
        WSF_HDR_E_STRAY_CONTINUATION
        WSF_HDR_E_RSV_CONTINUATION
        WSF_HDR_E_UNMASKED_FROM_CLIENT
        WSF_HDR_E_MASKED_FROM_SERVER
        WSF_HDR_E_NOT_MINIMAL
        WSF_HDR_E_TOP_BIT
        WSF_HDR_E_FRAME_TOO_BIG
        WSF_HDR_E_MESSAGE_TOO_BIG
    int wsf_header_check_start(unsigned char b0, unsigned char b1, int in_message, unsigned rsv_owned,
                               unsigned mask_bit) noexcept nogil
    int wsf_header_parse(const unsigned char *p, size_t avail, int in_message, unsigned rsv_owned,
                         unsigned mask_bit, unsigned long long frame_limit, unsigned long long message_room,
                         wsf_header *h) noexcept nogil
    size_t wsf_header_size(unsigned long long n) noexcept nogil
    size_t wsf_header_write(unsigned char *p, unsigned char b0, int masked, unsigned long long n) noexcept nogil

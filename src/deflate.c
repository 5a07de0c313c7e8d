/* permessage-deflate's zlib calls: see deflate.h. */
#include "deflate.h"

#ifdef WSF_HAVE_ZLIB

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct wsf_inflater {
    z_stream s;
    int bits;
};

struct wsf_deflater {
    z_stream s;
    int bits, mem_level, level;
};

/* idle (de)compressors kept for reuse; beyond this many, given-back ones are freed */
#define WSF_POOL 16
static wsf_inflater *inflate_pool[WSF_POOL];
static int inflate_pooled;
static wsf_deflater *deflate_pool[WSF_POOL];
static int deflate_pooled;

int wsf_zlib_linked(void) { return 1; }

const char *wsf_zlib_version(void) { return zlibVersion(); }

/* -- inflate -- */

wsf_inflater *wsf_inflater_new(int window_bits) {
    wsf_inflater *z = (wsf_inflater *)calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    z->bits = window_bits;
    if (inflateInit2(&z->s, -window_bits) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void wsf_inflater_free(wsf_inflater *z) {
    if (z == NULL)
        return;
    inflateEnd(&z->s);
    free(z);
}

wsf_inflater *wsf_inflater_take(int window_bits) {
    int i;
    for (i = inflate_pooled - 1; i >= 0; i--) {
        wsf_inflater *z = inflate_pool[i];
        if (z->bits == window_bits) {
            inflate_pool[i] = inflate_pool[--inflate_pooled];
            return z;
        }
    }
    return wsf_inflater_new(window_bits);
}

void wsf_inflater_give(wsf_inflater *z) {
    if (z == NULL)
        return;
    if (inflate_pooled < WSF_POOL && inflateReset(&z->s) == Z_OK)
        inflate_pool[inflate_pooled++] = z;
    else
        wsf_inflater_free(z);
}

static uInt clamp(size_t n) { return n > UINT_MAX ? UINT_MAX : (uInt)n; }

int wsf_inflate(wsf_inflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len) {
    z_stream *s = &z->s;
    for (;;) {
        uInt avail_in = clamp(*in_len), avail_out = clamp(*out_len);
        int rc;
        size_t used, made;
        s->next_in = (z_const Bytef *)*in;
        s->avail_in = avail_in;
        s->next_out = *out;
        s->avail_out = avail_out;
        rc = inflate(s, Z_SYNC_FLUSH);
        used = avail_in - s->avail_in;
        made = avail_out - s->avail_out;
        *in += used;
        *in_len -= used;
        *out += made;
        *out_len -= made;
        if (rc == Z_STREAM_END)
            return WSF_Z_END;
        if (rc == Z_BUF_ERROR) /* no progress possible: nothing to read, or no room */
            return WSF_Z_OK;
        if (rc == Z_MEM_ERROR)
            return WSF_Z_NOMEM;
        if (rc != Z_OK)
            return WSF_Z_ERROR;
        if (*in_len == 0 || *out_len == 0)
            return WSF_Z_OK;
        /* more than 4 GiB either way: go on with the next slice */
    }
}

const char *wsf_inflate_error(const wsf_inflater *z) {
    return z->s.msg != NULL ? z->s.msg : "invalid input data";
}

int wsf_inflater_reset(wsf_inflater *z, int keep_window) {
    unsigned char *window;
    uInt n = 0;
    if (!keep_window)
        return inflateReset(&z->s) == Z_OK ? WSF_Z_OK : WSF_Z_ERROR;
    window = (unsigned char *)malloc(32768); /* inflateGetDictionary: 32 KiB is always enough */
    if (window == NULL)
        return WSF_Z_NOMEM;
    if (inflateGetDictionary(&z->s, window, &n) != Z_OK)
        n = 0;
    if (inflateReset(&z->s) != Z_OK) {
        free(window);
        return WSF_Z_ERROR;
    }
    if (n > 0 && inflateSetDictionary(&z->s, window, n) != Z_OK) {
        free(window);
        return WSF_Z_ERROR;
    }
    free(window);
    return WSF_Z_OK;
}

size_t wsf_inflater_window(wsf_inflater *z, unsigned char *buf) {
    uInt n = 0;
    if (inflateGetDictionary(&z->s, buf, &n) != Z_OK)
        return 0;
    return n;
}

int wsf_inflater_set_window(wsf_inflater *z, const unsigned char *buf, size_t n) {
    if (n == 0)
        return WSF_Z_OK;
    return inflateSetDictionary(&z->s, buf, (uInt)n) == Z_OK ? WSF_Z_OK : WSF_Z_ERROR;
}

/* -- deflate -- */

wsf_deflater *wsf_deflater_new(int window_bits, int mem_level, int level) {
    wsf_deflater *z = (wsf_deflater *)calloc(1, sizeof *z);
    if (z == NULL)
        return NULL;
    z->bits = window_bits;
    z->mem_level = mem_level;
    z->level = level;
    if (deflateInit2(&z->s, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void wsf_deflater_free(wsf_deflater *z) {
    if (z == NULL)
        return;
    deflateEnd(&z->s);
    free(z);
}

wsf_deflater *wsf_deflater_take(int window_bits, int mem_level, int level) {
    int i;
    for (i = deflate_pooled - 1; i >= 0; i--) {
        wsf_deflater *z = deflate_pool[i];
        if (z->bits == window_bits && z->mem_level == mem_level && z->level == level) {
            deflate_pool[i] = deflate_pool[--deflate_pooled];
            return z;
        }
    }
    return wsf_deflater_new(window_bits, mem_level, level);
}

void wsf_deflater_give(wsf_deflater *z) {
    if (z == NULL)
        return;
    if (deflate_pooled < WSF_POOL && deflateReset(&z->s) == Z_OK)
        deflate_pool[deflate_pooled++] = z;
    else
        wsf_deflater_free(z);
}

size_t wsf_deflate_bound(wsf_deflater *z, size_t n) {
    /* deflateBound() covers one whole stream; a sync flush adds at most an empty stored block */
    uLong bound = deflateBound(&z->s, (uLong)(n > ULONG_MAX - 64 ? ULONG_MAX - 64 : n));
    return (size_t)bound + 16;
}

int wsf_deflate(wsf_deflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
                int sync_flush) {
    z_stream *s = &z->s;
    for (;;) {
        uInt avail_in = clamp(*in_len), avail_out = clamp(*out_len);
        int rc;
        size_t used, made;
        s->next_in = (z_const Bytef *)*in;
        s->avail_in = avail_in;
        s->next_out = *out;
        s->avail_out = avail_out;
        /* a sync flush only once the whole input is in this call */
        rc = deflate(s, sync_flush && avail_in == *in_len ? Z_SYNC_FLUSH : Z_NO_FLUSH);
        used = avail_in - s->avail_in;
        made = avail_out - s->avail_out;
        *in += used;
        *in_len -= used;
        *out += made;
        *out_len -= made;
        if (rc == Z_BUF_ERROR)
            return WSF_Z_OK;
        if (rc != Z_OK)
            return WSF_Z_ERROR;
        if (*out_len == 0 || (*in_len == 0 && avail_in == used))
            return WSF_Z_OK;
    }
}

int wsf_deflater_reset(wsf_deflater *z) { return deflateReset(&z->s) == Z_OK ? WSF_Z_OK : WSF_Z_ERROR; }

#else /* no zlib: the Cython layer falls back to Python's zlib module */

int wsf_zlib_linked(void) { return 0; }
const char *wsf_zlib_version(void) { return ""; }
wsf_inflater *wsf_inflater_new(int window_bits) { (void)window_bits; return NULL; }
void wsf_inflater_free(wsf_inflater *z) { (void)z; }
wsf_inflater *wsf_inflater_take(int window_bits) { (void)window_bits; return NULL; }
void wsf_inflater_give(wsf_inflater *z) { (void)z; }
int wsf_inflate(wsf_inflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len) {
    (void)z; (void)in; (void)in_len; (void)out; (void)out_len;
    return WSF_Z_ERROR;
}
const char *wsf_inflate_error(const wsf_inflater *z) { (void)z; return "zlib is not linked"; }
int wsf_inflater_reset(wsf_inflater *z, int keep_window) { (void)z; (void)keep_window; return WSF_Z_ERROR; }
size_t wsf_inflater_window(wsf_inflater *z, unsigned char *buf) { (void)z; (void)buf; return 0; }
int wsf_inflater_set_window(wsf_inflater *z, const unsigned char *buf, size_t n) {
    (void)z; (void)buf; (void)n;
    return WSF_Z_ERROR;
}
wsf_deflater *wsf_deflater_new(int window_bits, int mem_level, int level) {
    (void)window_bits; (void)mem_level; (void)level;
    return NULL;
}
void wsf_deflater_free(wsf_deflater *z) { (void)z; }
wsf_deflater *wsf_deflater_take(int window_bits, int mem_level, int level) {
    (void)window_bits; (void)mem_level; (void)level;
    return NULL;
}
void wsf_deflater_give(wsf_deflater *z) { (void)z; }
size_t wsf_deflate_bound(wsf_deflater *z, size_t n) { (void)z; return n; }
int wsf_deflate(wsf_deflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
                int sync_flush) {
    (void)z; (void)in; (void)in_len; (void)out; (void)out_len; (void)sync_flush;
    return WSF_Z_ERROR;
}
int wsf_deflater_reset(wsf_deflater *z) { (void)z; return WSF_Z_ERROR; }

#endif

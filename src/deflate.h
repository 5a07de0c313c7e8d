/* permessage-deflate's zlib calls (RFC 7692) as plain functions for the Cython parser and writer.
 *
 * Raw deflate streams (no zlib header) with the window sizes RFC 7692 negotiates.
 * Built with WSF_HAVE_ZLIB (setup.py defines it when zlib can be linked); without
 * it wsf_zlib_linked() is 0, every constructor returns NULL and the Cython layer
 * uses Python's zlib module instead.
 *
 * Not thread-safe by itself: the pools below are plain free lists, and every
 * call is made with the GIL held.
 */
#ifndef WSF_DEFLATE_H
#define WSF_DEFLATE_H

#include <stddef.h>

enum {
    WSF_Z_OK = 0,     /* stopped: the input is used up, or the output is full */
    WSF_Z_END = 1,    /* the deflate stream ended (a block with BFINAL set); the rest of the input is left */
    WSF_Z_ERROR = -1, /* corrupt input (inflate), or a bad state */
    WSF_Z_NOMEM = -2, /* out of memory */
};

typedef struct wsf_inflater wsf_inflater;
typedef struct wsf_deflater wsf_deflater;

int wsf_zlib_linked(void);
const char *wsf_zlib_version(void);

/* -- inflate -- */

/* A decompressor for streams made with a window of at most 2**window_bits (8..15). NULL: no memory. */
wsf_inflater *wsf_inflater_new(int window_bits);
void wsf_inflater_free(wsf_inflater *z);
/* From the pool of idle decompressors of that window (a fresh one if none): for peers that reset
   their compressor after every message, so an idle connection holds no decompressor. */
wsf_inflater *wsf_inflater_take(int window_bits);
/* Reset it and put it back in the pool (or free it when the pool is full). */
void wsf_inflater_give(wsf_inflater *z);
/* Inflate from *in (advanced past what was used) into *out (advanced past what was written). */
int wsf_inflate(wsf_inflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len);
/* Why the last wsf_inflate() failed. */
const char *wsf_inflate_error(const wsf_inflater *z);
/* Start a new stream. keep_window: the new stream may refer back to what the old one produced
   (context takeover across a stream that ended with BFINAL). WSF_Z_OK, or WSF_Z_NOMEM. */
int wsf_inflater_reset(wsf_inflater *z, int keep_window);

/* The decompressor's window: the last bytes it produced (at most 2**window_bits), copied to buf (room for
   2**window_bits bytes); their count. */
size_t wsf_inflater_window(wsf_inflater *z, unsigned char *buf);
/* Start a new decompressor (before any input) from a window wsf_inflater_window() saved. WSF_Z_OK or
   WSF_Z_ERROR. */
int wsf_inflater_set_window(wsf_inflater *z, const unsigned char *buf, size_t n);

/* -- deflate -- */

/* A compressor: window 2**window_bits (9..15), memLevel 1..9, level -1..9. NULL: no memory. */
wsf_deflater *wsf_deflater_new(int window_bits, int mem_level, int level);
void wsf_deflater_free(wsf_deflater *z);
/* From the pool of idle compressors with these settings (for no context takeover: one message at a
   time, then given back), or a fresh one. */
wsf_deflater *wsf_deflater_take(int window_bits, int mem_level, int level);
void wsf_deflater_give(wsf_deflater *z);
/* An upper bound of the output for n more input bytes, flush marker included. */
size_t wsf_deflate_bound(wsf_deflater *z, size_t n);
/* Compress from *in into *out, advancing both. sync_flush: end with an empty stored block
   (0x00 0x00 0xff 0xff), everything so far decodable; else Z_NO_FLUSH. Call again while the
   output fills up. */
int wsf_deflate(wsf_deflater *z, const unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len,
                int sync_flush);
/* Forget the history: the next message is compressed on its own. */
int wsf_deflater_reset(wsf_deflater *z);

#endif

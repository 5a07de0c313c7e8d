/* Parsing and checking one WebSocket frame header (RFC 6455 section 5.2), in plain C.
 *
 * One function, wsf_header_parse(), reads a header from the bytes available and
 * checks the framing rules in a fixed order, each as soon as its bytes are there:
 * the first two bytes (opcode, FIN, RSV bits, message sequence, masking), then
 * the extended length (minimal encoding, top bit, then the size limits); the
 * mask key last. It returns the header length (2..14), 0 when more bytes are
 * needed, or a negative WSF_HDR_E_* code naming the first rule broken, which
 * the caller turns into its error (1009 for the two size limits, else 1002;
 * wsfast._twin_helpers.header_error words it). FrameReader uses the whole
 * function; FrameParser, whose size rules differ (a compressed message is
 * limited by what it inflates to), uses wsf_header_check_start().
 *
 * The other way, wsf_header_size() and wsf_header_write() lay out the header
 * of a frame we send (the minimal length encoding), for every encoder.
 */
#ifndef WSF_HEADER_H
#define WSF_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    unsigned char b0;      /* the first byte: FIN, RSV bits, opcode */
    unsigned char masked;
    unsigned char key[4];
    uint64_t length;       /* payload length */
} wsf_header;

enum {
    WSF_HDR_E_RESERVED_OPCODE = -1,
    WSF_HDR_E_FRAGMENTED_CONTROL = -2,
    WSF_HDR_E_CONTROL_TOO_LONG = -3,
    WSF_HDR_E_RSV_CONTROL = -4,
    WSF_HDR_E_DATA_IN_MESSAGE = -5,
    WSF_HDR_E_RSV_UNOWNED = -6,
    WSF_HDR_E_STRAY_CONTINUATION = -7,
    WSF_HDR_E_RSV_CONTINUATION = -8,
    WSF_HDR_E_UNMASKED_FROM_CLIENT = -9,
    WSF_HDR_E_MASKED_FROM_SERVER = -10,
    WSF_HDR_E_NOT_MINIMAL = -11,
    WSF_HDR_E_TOP_BIT = -12,
    WSF_HDR_E_FRAME_TOO_BIG = -13,    /* size limits: 1009 */
    WSF_HDR_E_MESSAGE_TOO_BIG = -14
};

/* The rules on the first two bytes, in order: 0, or the first one broken. */
static inline int wsf_header_check_start(unsigned char b0, unsigned char b1, int in_message,
                                         unsigned rsv_owned, unsigned mask_bit)
{
    unsigned op = b0 & 0x0F, rsv = b0 & 0x70;
    if (op >= 8) {
        if (op > 10) return WSF_HDR_E_RESERVED_OPCODE;
        if (!(b0 & 0x80)) return WSF_HDR_E_FRAGMENTED_CONTROL;
        if ((b1 & 0x7F) > 125) return WSF_HDR_E_CONTROL_TOO_LONG;
        if (rsv) return WSF_HDR_E_RSV_CONTROL;
    } else if (op) {
        if (op > 2) return WSF_HDR_E_RESERVED_OPCODE;
        if (in_message) return WSF_HDR_E_DATA_IN_MESSAGE;
        if (rsv & ~rsv_owned) return WSF_HDR_E_RSV_UNOWNED;
    } else {
        if (!in_message) return WSF_HDR_E_STRAY_CONTINUATION;
        if (rsv) return WSF_HDR_E_RSV_CONTINUATION;
    }
    if ((b1 & 0x80u) != mask_bit)
        return mask_bit ? WSF_HDR_E_UNMASKED_FROM_CLIENT : WSF_HDR_E_MASKED_FROM_SERVER;
    return 0;
}

/* Header length, 0 if incomplete, or a WSF_HDR_E_* code. `frame_limit`: the largest payload a
 * frame may declare; `message_room`: how many more bytes the current data message may grow by
 * (control frames are checked against frame_limit only). */
static inline int wsf_header_parse(const unsigned char *p, size_t avail, int in_message,
                                   unsigned rsv_owned, unsigned mask_bit, uint64_t frame_limit,
                                   uint64_t message_room, wsf_header *h)
{
    unsigned char b0, b1;
    uint64_t length;
    int hl = 2, rc, i;
    if (avail < 2) return 0;
    b0 = p[0];
    b1 = p[1];
    if (!((b0 == 0x81 || b0 == 0x82) && !in_message && (b1 & 0x80u) == mask_bit)) {
        rc = wsf_header_check_start(b0, b1, in_message, rsv_owned, mask_bit);
        if (rc) return rc;
    }
    length = b1 & 0x7F;
    if (length == 126) {
        hl = 4;
        if (avail < 4) return 0;
        length = ((uint64_t)p[2] << 8) | p[3];
        if (length < 126) return WSF_HDR_E_NOT_MINIMAL;
    } else if (length == 127) {
        hl = 10;
        if (avail < 10) return 0;
        length = 0;
        for (i = 2; i < 10; i++) length = (length << 8) | p[i];
        if (length >> 63) return WSF_HDR_E_TOP_BIT;
        if (length < 65536) return WSF_HDR_E_NOT_MINIMAL;
    }
    h->b0 = b0;
    h->length = length;  /* also for the size errors' message */
    if (length > frame_limit) return WSF_HDR_E_FRAME_TOO_BIG;
    if (!(b0 & 8) && length > message_room) return WSF_HDR_E_MESSAGE_TOO_BIG;
    if (b1 & 0x80) {
        if (avail < (size_t)hl + 4) return 0;
        h->masked = 1;
        memcpy(h->key, p + hl, 4);
        return hl + 4;
    }
    h->masked = 0;
    return hl;
}

/* The length of the header of a frame with an n-byte payload, without the mask key: 2, 4 or 10. */
static inline size_t wsf_header_size(uint64_t n)
{
    return n < 126 ? 2 : (n < 65536 ? 4 : 10);
}

/* Write the header of a frame with an n-byte payload at p (wsf_header_size(n) bytes, the mask
 * key not included): b0 as given, the MASK bit when masked, the minimal length encoding.
 * Returns the number of bytes written. */
static inline size_t wsf_header_write(unsigned char *p, unsigned char b0, int masked, uint64_t n)
{
    size_t hl = wsf_header_size(n);
    int i;
    p[0] = b0;
    p[1] = masked ? 0x80 : 0;
    if (hl == 2) {
        p[1] |= (unsigned char)n;
    } else if (hl == 4) {
        p[1] |= 126;
        p[2] = (unsigned char)(n >> 8);
        p[3] = (unsigned char)n;
    } else {
        p[1] |= 127;
        for (i = 0; i < 8; i++) p[2 + i] = (unsigned char)(n >> (56 - 8 * i));
    }
    return hl;
}

#endif

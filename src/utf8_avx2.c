/* placeholder: replaced below */
#include "utf8.h"
int wsf_utf8_avx2(const unsigned char *buf, size_t n) { return wsf_utf8_scalar(buf, n); }

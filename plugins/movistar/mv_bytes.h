/* Big-endian reads shared by the Movistar parsers. */
#ifndef MV_BYTES_H
#define MV_BYTES_H

#include <stdint.h>

static inline uint16_t
mv_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
mv_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif

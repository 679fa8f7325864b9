/*
 * Little-endian field access for the codec (private to sb_protocol.c and
 * sb_messages.c): every wire field is read and written byte by byte, never
 * by casting a struct onto the bytes, so alignment and host byte order never
 * matter.
 */
#ifndef SB_BYTES_H
#define SB_BYTES_H

#include <stdint.h>

/* Casts before shifts matter on AVR, where int is 16 bits: (p[1] << 8) on a
 * promoted int could overflow into the sign bit. */

static inline void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Unsigned → signed without implementation-defined conversions. */
static inline int16_t get_i16(const uint8_t *p)
{
    uint16_t u = get_u16(p);
    return u <= 0x7FFFu ? (int16_t)u : (int16_t)(-(int16_t)(0xFFFFu - u) - 1);
}

static inline int32_t get_i32(const uint8_t *p)
{
    uint32_t u = get_u32(p);
    return u <= 0x7FFFFFFFul ? (int32_t)u : -(int32_t)(0xFFFFFFFFul - u) - 1;
}

/* Signed → unsigned is defined by C (modulo 2^N), so these are plain casts. */
static inline void put_i16(uint8_t *p, int16_t v) { put_u16(p, (uint16_t)v); }
static inline void put_i32(uint8_t *p, int32_t v) { put_u32(p, (uint32_t)v); }

#endif /* SB_BYTES_H */

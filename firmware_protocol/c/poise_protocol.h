/*
 * poise_protocol.h - Poise wearable wire protocol v1, reference for firmware authors.
 *
 * Single header, C99, no dynamic memory, no dependencies beyond <stdint.h>/<stddef.h>/<string.h>.
 * Mirrors firmware_protocol/SPEC.md and the Python codec (firmware_protocol/codec.py);
 * c/poise_encoder.c regenerates the bytes of firmware_protocol/vectors/ (*.json) with it.
 *
 * All multi-byte fields are little-endian. Encoders write into a caller buffer and return the
 * number of bytes written, or 0 if the buffer is too small or a parameter is out of range.
 *
 * Licence: Apache-2.0 (same as Poise).
 */
#ifndef POISE_PROTOCOL_H
#define POISE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions and GATT ------------------------------------------------------------------- */
#define POISE_PROTOCOL_VERSION 1u

#define POISE_SERVICE_UUID           "7a9e0001-5f0b-4c3e-9c5d-506f69736531"
#define POISE_DATA_CHAR_UUID         "7a9e0002-5f0b-4c3e-9c5d-506f69736531" /* notify */
#define POISE_CONTROL_POINT_CHAR_UUID "7a9e0003-5f0b-4c3e-9c5d-506f69736531" /* write + indicate */
#define POISE_STATUS_CHAR_UUID       "7a9e0004-5f0b-4c3e-9c5d-506f69736531" /* read + notify */
#define POISE_INFO_CHAR_UUID         "7a9e0005-5f0b-4c3e-9c5d-506f69736531" /* read, JSON */
#define POISE_NAME_PREFIX            "Poise-"
#define POISE_DIS_UUID16             0x180Au
#define POISE_BAS_UUID16             0x180Fu

/* ---- data packets ------------------------------------------------------------------------ */
#define POISE_PACKET_DATA     1u /* low nibble of byte 0 */
#define POISE_PACKET_COMPACT  2u
#define POISE_BYTE0(type)     ((uint8_t)((POISE_PROTOCOL_VERSION << 4) | (type)))

#define POISE_FULL_HEADER_SIZE   9u  /* ver/type, config id, seq u16, t_first_us u32, count */
#define POISE_SAMPLE_SIZE        12u /* ax ay az gx gy gz, int16 */
#define POISE_CRC_SIZE           2u
#define POISE_FULL_OVERHEAD      (POISE_FULL_HEADER_SIZE + POISE_CRC_SIZE) /* 11 */
#define POISE_COMPACT_SIZE       20u
#define POISE_ATT_NOTIFY_OVERHEAD 3u
#define POISE_MAX_ATTRIBUTE_SIZE 512u
#define POISE_MAX_SAMPLES        ((POISE_MAX_ATTRIBUTE_SIZE - POISE_FULL_OVERHEAD) / POISE_SAMPLE_SIZE) /* 41 */
#define POISE_FULL_SIZE(count)   (POISE_FULL_OVERHEAD + POISE_SAMPLE_SIZE * (size_t)(count))

/* Samples per full packet at a negotiated ATT MTU (19 at 247); 0 means: use the compact layout. */
static inline unsigned poise_max_samples_per_packet(unsigned att_mtu)
{
    unsigned n;
    if (att_mtu < POISE_ATT_NOTIFY_OVERHEAD + POISE_FULL_OVERHEAD) return 0;
    n = (att_mtu - POISE_ATT_NOTIFY_OVERHEAD - POISE_FULL_OVERHEAD) / POISE_SAMPLE_SIZE;
    return n > POISE_MAX_SAMPLES ? POISE_MAX_SAMPLES : n;
}

/* ---- configuration codes ------------------------------------------------------------------ */
/* rate code: 0 = 50 Hz, 1 = 100 Hz, 2 = 200 Hz
 * acc code:  0 = 2 g, 1 = 4 g, 2 = 8 g, 3 = 16 g       (full scale = 32768 counts)
 * gyro code: 0 = 250, 1 = 500, 2 = 1000, 3 = 2000 deg/s
 * config id byte: bits 0-1 rate, bits 2-3 acc, bits 4-5 gyro, bits 6-7 zero. */
#define POISE_RATE_CODES 3u
#define POISE_RANGE_CODES 4u
static inline uint8_t poise_config_id(uint8_t rate_code, uint8_t acc_code, uint8_t gyro_code)
{
    return (uint8_t)((rate_code & 3u) | ((acc_code & 3u) << 2) | ((gyro_code & 3u) << 4));
}
static inline int poise_config_id_valid(uint8_t id)
{
    return (id & 0xC0u) == 0 && (id & 3u) < POISE_RATE_CODES;
}
static inline uint32_t poise_sample_period_us(uint8_t rate_code)
{
    static const uint32_t period[3] = {20000u, 10000u, 5000u};
    return rate_code < 3 ? period[rate_code] : 0u;
}

/* ---- control point ------------------------------------------------------------------------ */
enum poise_opcode {
    POISE_OP_START_STREAM = 0x01, /* no parameters */
    POISE_OP_STOP_STREAM = 0x02,  /* no parameters */
    POISE_OP_SET_CONFIG = 0x03,   /* rate code u8, acc code u8, gyro code u8 */
    POISE_OP_TIME_SYNC = 0x04,    /* host time us u64 -> response: host echo u64, sensor us u32 */
    POISE_OP_IDENTIFY = 0x05,     /* seconds u8 (0 stops) */
    POISE_OP_GET_INFO = 0x06      /* -> response: see poise_encode_response_info */
};
#define POISE_RESPONSE_CODE 0x80u
enum poise_result {
    POISE_RESULT_SUCCESS = 0x01,
    POISE_RESULT_UNSUPPORTED_OPCODE = 0x02,
    POISE_RESULT_INVALID_PARAMETER = 0x03,
    POISE_RESULT_INVALID_STATE = 0x04,
    POISE_RESULT_BUSY = 0x05,
    POISE_RESULT_OPERATION_FAILED = 0x06
};

/* ---- status ------------------------------------------------------------------------------- */
enum poise_stream_state { POISE_STATE_IDLE = 0, POISE_STATE_STREAMING = 1, POISE_STATE_ERROR = 2 };
#define POISE_FLAG_LOW_BATTERY     0x01u
#define POISE_FLAG_SENSOR_ERROR    0x02u
#define POISE_FLAG_BUFFER_OVERFLOW 0x04u
#define POISE_FLAG_CHARGING        0x08u
#define POISE_BATTERY_UNKNOWN      0xFFu
#define POISE_STATUS_SIZE          8u

/* ---- types -------------------------------------------------------------------------------- */
typedef struct {
    int16_t acc[3]; /* counts, x y z */
    int16_t gyr[3];
} poise_sample_t;

/* ---- little-endian helpers ---------------------------------------------------------------- */
static inline void poise_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}
static inline void poise_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}
static inline void poise_put_u64(uint8_t *p, uint64_t v)
{
    poise_put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
    poise_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t poise_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t poise_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t poise_get_u64(const uint8_t *p)
{
    return (uint64_t)poise_get_u32(p) | ((uint64_t)poise_get_u32(p + 4) << 32);
}

/* ---- CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout -------------- */
/* check value: poise_crc16((const uint8_t *)"123456789", 9) == 0x29B1 */
static inline uint16_t poise_crc16_update(uint16_t crc, const uint8_t *data, size_t len)
{
    size_t i;
    int b;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}
static inline uint16_t poise_crc16(const uint8_t *data, size_t len)
{
    return poise_crc16_update(0xFFFFu, data, len);
}

static inline void poise_put_samples(uint8_t *p, const poise_sample_t *s, size_t count)
{
    size_t i;
    int k;
    for (i = 0; i < count; i++) {
        for (k = 0; k < 3; k++) poise_put_u16(p + 12 * i + 2 * k, (uint16_t)s[i].acc[k]);
        for (k = 0; k < 3; k++) poise_put_u16(p + 12 * i + 6 + 2 * k, (uint16_t)s[i].gyr[k]);
    }
}

/* ---- data packet encoders ------------------------------------------------------------------ */
/* Full data packet: [0x11][config id][seq u16][t_first_us u32][count][count x 12 bytes][crc u16].
 * t_first_us: sensor clock at the first sample (free-running 32-bit us counter, wraps). */
static inline size_t poise_encode_data(uint8_t *out, size_t cap, uint8_t config_id, uint16_t seq,
                                       uint32_t t_first_us, const poise_sample_t *samples,
                                       uint8_t count)
{
    size_t len = POISE_FULL_SIZE(count);
    if (count == 0 || count > POISE_MAX_SAMPLES || cap < len || !poise_config_id_valid(config_id))
        return 0;
    out[0] = POISE_BYTE0(POISE_PACKET_DATA);
    out[1] = config_id;
    poise_put_u16(out + 2, seq);
    poise_put_u32(out + 4, t_first_us);
    out[8] = count;
    poise_put_samples(out + POISE_FULL_HEADER_SIZE, samples, count);
    poise_put_u16(out + len - 2, poise_crc16(out, len - 2));
    return len;
}

/* Compact packet (MTU 23, 20 bytes): [0x12][seq u16][t_first_us low 24 bits][1 sample][crc u16]. */
static inline size_t poise_encode_compact(uint8_t *out, size_t cap, uint16_t seq, uint32_t t_us,
                                          const poise_sample_t *sample)
{
    if (cap < POISE_COMPACT_SIZE) return 0;
    out[0] = POISE_BYTE0(POISE_PACKET_COMPACT);
    poise_put_u16(out + 1, seq);
    out[3] = (uint8_t)(t_us & 0xFFu);
    out[4] = (uint8_t)((t_us >> 8) & 0xFFu);
    out[5] = (uint8_t)((t_us >> 16) & 0xFFu);
    poise_put_samples(out + 6, sample, 1);
    poise_put_u16(out + 18, poise_crc16(out, 18));
    return POISE_COMPACT_SIZE;
}

/* Check a received data packet's structure and CRC (e.g. in a sensor-side self test).
 * Returns 1 if valid. */
static inline int poise_data_packet_valid(const uint8_t *p, size_t len)
{
    if (len < 1 || (p[0] >> 4) != POISE_PROTOCOL_VERSION) return 0;
    if (p[0] == POISE_BYTE0(POISE_PACKET_COMPACT)) {
        if (len != POISE_COMPACT_SIZE) return 0;
    } else if (p[0] == POISE_BYTE0(POISE_PACKET_DATA)) {
        if (len < POISE_FULL_HEADER_SIZE || p[8] == 0 || len != POISE_FULL_SIZE(p[8])) return 0;
    } else {
        return 0;
    }
    return poise_get_u16(p + len - 2) == poise_crc16(p, len - 2);
}

/* ---- control point: requests (client side) and parsing (sensor side) ---------------------- */
static inline size_t poise_encode_command(uint8_t *out, size_t cap, uint8_t opcode,
                                          const uint8_t *params, size_t params_len)
{
    if (cap < 1 + params_len) return 0;
    out[0] = opcode;
    if (params_len) memcpy(out + 1, params, params_len);
    return 1 + params_len;
}

/* Parameter bytes an opcode needs, or -1 if the opcode is unknown (answer UNSUPPORTED_OPCODE).
 * A write shorter than 1 + this is INVALID_PARAMETER; extra trailing bytes are ignored. */
static inline int poise_command_params_len(uint8_t opcode)
{
    switch (opcode) {
    case POISE_OP_START_STREAM:
    case POISE_OP_STOP_STREAM:
    case POISE_OP_GET_INFO: return 0;
    case POISE_OP_SET_CONFIG: return 3;
    case POISE_OP_TIME_SYNC: return 8;
    case POISE_OP_IDENTIFY: return 1;
    default: return -1;
    }
}

/* Validate a control point write; returns the result code the sensor answers if it must refuse
 * it, or POISE_RESULT_SUCCESS if the parameters are acceptable (state checks are the caller's). */
static inline uint8_t poise_check_command(const uint8_t *p, size_t len)
{
    int need;
    if (len < 1) return POISE_RESULT_INVALID_PARAMETER;
    need = poise_command_params_len(p[0]);
    if (need < 0) return POISE_RESULT_UNSUPPORTED_OPCODE;
    if (len < (size_t)(1 + need)) return POISE_RESULT_INVALID_PARAMETER;
    if (p[0] == POISE_OP_SET_CONFIG &&
        (p[1] >= POISE_RATE_CODES || p[2] >= POISE_RANGE_CODES || p[3] >= POISE_RANGE_CODES))
        return POISE_RESULT_INVALID_PARAMETER;
    return POISE_RESULT_SUCCESS;
}

/* ---- control point responses (indications) ------------------------------------------------ */
/* [0x80][request opcode][result] (+ payload on SUCCESS for TIME_SYNC and GET_INFO). */
static inline size_t poise_encode_response(uint8_t *out, size_t cap, uint8_t opcode, uint8_t result)
{
    if (cap < 3) return 0;
    out[0] = POISE_RESPONSE_CODE;
    out[1] = opcode;
    out[2] = result;
    return 3;
}

static inline size_t poise_encode_response_time_sync(uint8_t *out, size_t cap, uint64_t host_us,
                                                     uint32_t sensor_us)
{
    if (cap < 15) return 0;
    poise_encode_response(out, cap, POISE_OP_TIME_SYNC, POISE_RESULT_SUCCESS);
    poise_put_u64(out + 3, host_us);
    poise_put_u32(out + 11, sensor_us);
    return 15;
}

/* GET_INFO success: protocol version, firmware major/minor/patch, config id, battery % (255 =
 * unknown), max samples per packet (0 = compact layout), then the serial as printable ASCII
 * (no terminator; <= 10 characters fit at MTU 23). */
static inline size_t poise_encode_response_info(uint8_t *out, size_t cap, uint8_t fw_major,
                                                uint8_t fw_minor, uint8_t fw_patch,
                                                uint8_t config_id, uint8_t battery_percent,
                                                uint8_t max_samples, const char *serial)
{
    size_t n = serial ? strlen(serial) : 0;
    if (cap < 10 + n) return 0;
    poise_encode_response(out, cap, POISE_OP_GET_INFO, POISE_RESULT_SUCCESS);
    out[3] = POISE_PROTOCOL_VERSION;
    out[4] = fw_major;
    out[5] = fw_minor;
    out[6] = fw_patch;
    out[7] = config_id;
    out[8] = battery_percent;
    out[9] = max_samples;
    if (n) memcpy(out + 10, serial, n);
    return 10 + n;
}

/* ---- status notification ------------------------------------------------------------------ */
/* [state][battery %][flags][dropped samples u32][config id] = 8 bytes. */
static inline size_t poise_encode_status(uint8_t *out, size_t cap, uint8_t state,
                                         uint8_t battery_percent, uint8_t flags,
                                         uint32_t dropped_samples, uint8_t config_id)
{
    if (cap < POISE_STATUS_SIZE) return 0;
    out[0] = state;
    out[1] = battery_percent;
    out[2] = flags;
    poise_put_u32(out + 3, dropped_samples);
    out[7] = config_id;
    return POISE_STATUS_SIZE;
}

#ifdef __cplusplus
}
#endif
#endif /* POISE_PROTOCOL_H */

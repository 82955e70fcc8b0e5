/*
 * poise_encoder.c - reference encoder for Poise wire protocol v1 (uses poise_protocol.h only).
 *
 * Reads one message description per line on stdin and prints its bytes as lower-case hex, one
 * line per input line, so that the output can be compared with firmware_protocol/vectors/ (*.json).
 * Input lines (decimal integers, space separated; see firmware_protocol/make_vectors.py):
 *
 *   data SEQ T_US CONFIG_ID COUNT ax ay az gx gy gz ...     (COUNT samples)
 *   compact SEQ T_US ax ay az gx gy gz
 *   cmd OPCODE [params: SET_CONFIG r a g | TIME_SYNC host_us | IDENTIFY seconds]
 *   resp OPCODE RESULT
 *   resp_time_sync HOST_US SENSOR_US
 *   resp_info PV FW_MAJ FW_MIN FW_PATCH CONFIG_ID BATTERY MAX_SAMPLES SERIAL|-
 *   status STATE BATTERY FLAGS DROPPED CONFIG_ID
 *   crc TEXT                                                 (CRC of the ASCII text, 4 hex digits)
 *
 * Build: cc -std=c99 -Wall -Wextra -O2 -o poise_encoder poise_encoder.c
 * Exit status 0 on success, 1 on the first malformed line (message on stderr with its number).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poise_protocol.h"

#define MAX_LINE 8192
#define MAX_TOKENS 512

static int tok_i64(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int tok_u64(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long v;
    if (*s == '-') return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || end == s) return 0;
    *out = v;
    return 1;
}

static void print_hex(const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

/* Parse tokens t[first..first+count) as integers in [lo, hi] into v. */
static int ints(char **t, int first, int count, long long lo, long long hi, long long *v)
{
    int i;
    for (i = 0; i < count; i++)
        if (!tok_i64(t[first + i], lo, hi, &v[i])) return 0;
    return 1;
}

static size_t encode_line(char **t, int nt, uint8_t *out, size_t cap)
{
    long long v[16];
    unsigned long long u;
    const char *kind = t[0];

    if (!strcmp(kind, "data")) {
        poise_sample_t s[POISE_MAX_SAMPLES];
        long long hdr[4];
        int i, k;
        if (nt < 5 || !ints(t, 1, 1, 0, 0xFFFF, &hdr[0]) || !ints(t, 2, 1, 0, 0xFFFFFFFFLL, &hdr[1]) ||
            !ints(t, 3, 1, 0, 0xFF, &hdr[2]) || !ints(t, 4, 1, 1, POISE_MAX_SAMPLES, &hdr[3]))
            return 0;
        if (nt != 5 + 6 * hdr[3]) return 0;
        for (i = 0; i < hdr[3]; i++) {
            if (!ints(t, 5 + 6 * i, 6, -32768, 32767, v)) return 0;
            for (k = 0; k < 3; k++) {
                s[i].acc[k] = (int16_t)v[k];
                s[i].gyr[k] = (int16_t)v[3 + k];
            }
        }
        return poise_encode_data(out, cap, (uint8_t)hdr[2], (uint16_t)hdr[0], (uint32_t)hdr[1], s,
                                 (uint8_t)hdr[3]);
    }
    if (!strcmp(kind, "compact")) {
        poise_sample_t s;
        long long hdr[2];
        int k;
        if (nt != 9 || !ints(t, 1, 1, 0, 0xFFFF, &hdr[0]) || !ints(t, 2, 1, 0, 0xFFFFFFFFLL, &hdr[1]) ||
            !ints(t, 3, 6, -32768, 32767, v))
            return 0;
        for (k = 0; k < 3; k++) {
            s.acc[k] = (int16_t)v[k];
            s.gyr[k] = (int16_t)v[3 + k];
        }
        return poise_encode_compact(out, cap, (uint16_t)hdr[0], (uint32_t)hdr[1], &s);
    }
    if (!strcmp(kind, "cmd")) {
        uint8_t params[8];
        int need;
        size_t n;
        if (nt < 2 || !ints(t, 1, 1, 0, 0xFF, v)) return 0;
        need = poise_command_params_len((uint8_t)v[0]);
        if (need < 0) return 0;
        switch (v[0]) {
        case POISE_OP_SET_CONFIG:
            if (nt != 5 || !ints(t, 2, 3, 0, 255, v + 1)) return 0;
            params[0] = (uint8_t)v[1];
            params[1] = (uint8_t)v[2];
            params[2] = (uint8_t)v[3];
            break;
        case POISE_OP_TIME_SYNC:
            if (nt != 3 || !tok_u64(t[2], &u)) return 0;
            poise_put_u64(params, (uint64_t)u);
            break;
        case POISE_OP_IDENTIFY:
            if (nt != 3 || !ints(t, 2, 1, 0, 255, v + 1)) return 0;
            params[0] = (uint8_t)v[1];
            break;
        default:
            if (nt != 2) return 0;
        }
        n = poise_encode_command(out, cap, (uint8_t)v[0], params, (size_t)need);
        /* the sensor-side validator must accept what the client side encodes */
        return poise_check_command(out, n) == POISE_RESULT_SUCCESS ? n : 0;
    }
    if (!strcmp(kind, "resp")) {
        if (nt != 3 || !ints(t, 1, 2, 0, 0xFF, v)) return 0;
        return poise_encode_response(out, cap, (uint8_t)v[0], (uint8_t)v[1]);
    }
    if (!strcmp(kind, "resp_time_sync")) {
        if (nt != 3 || !tok_u64(t[1], &u) || !ints(t, 2, 1, 0, 0xFFFFFFFFLL, v)) return 0;
        return poise_encode_response_time_sync(out, cap, (uint64_t)u, (uint32_t)v[0]);
    }
    if (!strcmp(kind, "resp_info")) {
        if (nt != 9 || !ints(t, 1, 7, 0, 0xFF, v) || v[0] != POISE_PROTOCOL_VERSION) return 0;
        return poise_encode_response_info(out, cap, (uint8_t)v[1], (uint8_t)v[2], (uint8_t)v[3],
                                          (uint8_t)v[4], (uint8_t)v[5], (uint8_t)v[6],
                                          strcmp(t[8], "-") ? t[8] : "");
    }
    if (!strcmp(kind, "status")) {
        if (nt != 6 || !ints(t, 1, 3, 0, 0xFF, v) || !ints(t, 4, 1, 0, 0xFFFFFFFFLL, v + 3) ||
            !ints(t, 5, 1, 0, 0xFF, v + 4))
            return 0;
        return poise_encode_status(out, cap, (uint8_t)v[0], (uint8_t)v[1], (uint8_t)v[2],
                                   (uint32_t)v[3], (uint8_t)v[4]);
    }
    if (!strcmp(kind, "crc")) {
        uint16_t c;
        if (nt != 2 || cap < 2) return 0;
        c = poise_crc16((const uint8_t *)t[1], strlen(t[1]));
        out[0] = (uint8_t)(c >> 8);
        out[1] = (uint8_t)(c & 0xFF);
        return 2;
    }
    return 0;
}

int main(void)
{
    static char line[MAX_LINE];
    static uint8_t out[POISE_MAX_ATTRIBUTE_SIZE];
    char *tokens[MAX_TOKENS];
    unsigned long lineno = 0;

    while (fgets(line, sizeof line, stdin)) {
        int nt = 0;
        char *p;
        size_t n;
        lineno++;
        if (!strchr(line, '\n') && !feof(stdin)) {
            fprintf(stderr, "line %lu: longer than %d characters\n", lineno, MAX_LINE - 1);
            return 1;
        }
        for (p = strtok(line, " \t\r\n"); p && nt < MAX_TOKENS; p = strtok(NULL, " \t\r\n"))
            tokens[nt++] = p;
        if (nt == 0 || tokens[0][0] == '#') continue;
        if (p) {
            fprintf(stderr, "line %lu: more than %d fields\n", lineno, MAX_TOKENS);
            return 1;
        }
        n = encode_line(tokens, nt, out, sizeof out);
        if (n == 0) {
            fprintf(stderr, "line %lu: cannot encode '%s ...' (bad field count or value)\n", lineno,
                    tokens[0]);
            return 1;
        }
        print_hex(out, n);
    }
    return 0;
}

/*
 * spikebox reference firmware on an Arduino (Uno / Nano class, ATmega328P):
 * the portable core (sb_core + sb_protocol) behind Serial at 115200 baud,
 * two DC motors on an H-bridge (one PWM pin and one direction pin each,
 * e.g. a TB6612FNG or an L298N) and two quadrature wheel encoders.
 *
 * Before building, copy the core into this sketch's src/ folder (the
 * Arduino IDE and arduino-cli compile everything under src/):
 *   mkdir -p src && cp ../../sb_*.[ch] src/
 *
 * The pins, the speed → PWM map and TICKS_PER_MM below are examples: set
 * them for your robot. No IMU or range sensor is assumed; their fields read
 * 0 / "nothing in range" until you wire one into read_sensors().
 */
#include "src/sb_core.h"

// ---- the robot ----
const uint8_t PIN_LEFT_PWM = 5, PIN_LEFT_DIR = 4;
const uint8_t PIN_RIGHT_PWM = 6, PIN_RIGHT_DIR = 7;
const uint8_t PIN_LEFT_ENC_A = 2, PIN_LEFT_ENC_B = 8;   // A on an interrupt pin
const uint8_t PIN_RIGHT_ENC_A = 3, PIN_RIGHT_ENC_B = 9;
const uint8_t PIN_BATTERY = A0;

const int16_t MAX_SPEED_MM_S = 600;  // wheel speed at full PWM, measured on the bench
const uint8_t MIN_PWM = 35;          // below this the motors only hum
const float TICKS_PER_MM = 2.0f;     // encoder counts per mm of wheel travel
// Battery through a 10k/3.3k divider into a 5 V ADC: mV = adc * 5000/1023 * 13.3/3.3
const float BATTERY_MV_PER_COUNT = 19.70f;
const uint16_t SPEED_WINDOW_MS = 20; // wheel speed from ticks over this window

// ---- encoders: counted in interrupts, read with interrupts off ----
static volatile int32_t left_ticks = 0, right_ticks = 0;

static void on_left_edge() { left_ticks += digitalRead(PIN_LEFT_ENC_B) ? -1 : 1; }
static void on_right_edge() { right_ticks += digitalRead(PIN_RIGHT_ENC_B) ? 1 : -1; }  // mirrored side

static void read_ticks(int32_t *left, int32_t *right)
{
    noInterrupts();  // 32-bit reads are not atomic on an 8-bit CPU
    *left = left_ticks;
    *right = right_ticks;
    interrupts();
}

// ---- measured wheel speeds, updated from the main loop ----
static int16_t left_speed_mm_s = 0, right_speed_mm_s = 0;
static int32_t window_left = 0, window_right = 0;
static uint32_t window_start_ms = 0;

static void update_speeds(uint32_t now)
{
    uint32_t dt = now - window_start_ms;
    if (dt < SPEED_WINDOW_MS) {
        return;
    }
    int32_t l, r;
    read_ticks(&l, &r);
    left_speed_mm_s = (int16_t)((float)(l - window_left) * 1000.0f / (TICKS_PER_MM * dt));
    right_speed_mm_s = (int16_t)((float)(r - window_right) * 1000.0f / (TICKS_PER_MM * dt));
    window_left = l;
    window_right = r;
    window_start_ms = now;
}

// ---- HAL for the core ----
static uint32_t hal_millis(void *) { return millis(); }

// Open loop: speed → PWM proportionally, with a dead band lifted to MIN_PWM.
// Good enough to follow setpoints roughly; close the loop on the encoders
// here if your robot needs it.
static void drive_wheel(uint8_t pwm_pin, uint8_t dir_pin, int16_t mm_s)
{
    int32_t mag = mm_s < 0 ? -(int32_t)mm_s : mm_s;
    uint8_t pwm = 0;
    if (mag > 0) {
        if (mag > MAX_SPEED_MM_S) {
            mag = MAX_SPEED_MM_S;
        }
        pwm = (uint8_t)(MIN_PWM + (mag * (255 - MIN_PWM)) / MAX_SPEED_MM_S);
    }
    digitalWrite(dir_pin, mm_s < 0 ? LOW : HIGH);
    analogWrite(pwm_pin, pwm);
}

static void hal_set_motors(void *, int16_t left_mm_s, int16_t right_mm_s)
{
    drive_wheel(PIN_LEFT_PWM, PIN_LEFT_DIR, left_mm_s);
    drive_wheel(PIN_RIGHT_PWM, PIN_RIGHT_DIR, right_mm_s);
}

static void hal_read_sensors(void *, sb_sensors_t *s)
{
    read_ticks(&s->left_ticks, &s->right_ticks);
    s->left_mm_s = left_speed_mm_s;
    s->right_mm_s = right_speed_mm_s;
    s->battery_mv = (uint16_t)(analogRead(PIN_BATTERY) * BATTERY_MV_PER_COUNT);
    s->range_mm = SB_RANGE_NONE;  // no range sensor fitted
    for (uint8_t i = 0; i < 3; i++) {  // no IMU fitted
        s->accel_mg[i] = 0;
        s->gyro_cdps[i] = 0;
    }
}

// Serial.write blocks once its 64-byte buffer is full: a TELEMETRY frame
// (56 bytes) takes ~5 ms at 115200 baud, far inside the 200 ms watchdog.
static void hal_serial_write(void *, const uint8_t *data, size_t n) { Serial.write(data, n); }

static sb_core_t core;  // static: all of the core's state, no heap

void setup()
{
    pinMode(PIN_LEFT_PWM, OUTPUT);
    pinMode(PIN_LEFT_DIR, OUTPUT);
    pinMode(PIN_RIGHT_PWM, OUTPUT);
    pinMode(PIN_RIGHT_DIR, OUTPUT);
    pinMode(PIN_LEFT_ENC_A, INPUT_PULLUP);
    pinMode(PIN_LEFT_ENC_B, INPUT_PULLUP);
    pinMode(PIN_RIGHT_ENC_A, INPUT_PULLUP);
    pinMode(PIN_RIGHT_ENC_B, INPUT_PULLUP);
    attachInterrupt(digitalPinToInterrupt(PIN_LEFT_ENC_A), on_left_edge, RISING);
    attachInterrupt(digitalPinToInterrupt(PIN_RIGHT_ENC_A), on_right_edge, RISING);

    Serial.begin(115200);
    Serial.write((uint8_t)0);  // a lone delimiter: ends any partial chunk the host holds

    sb_hal_t hal;
    hal.millis = hal_millis;
    hal.set_motors = hal_set_motors;
    hal.read_sensors = hal_read_sensors;
    hal.serial_write = hal_serial_write;
    hal.ctx = NULL;

    sb_config_t config;
    sb_config_default(&config);  // watchdog 200 ms, real version and schema hash
    config.firmware_id = "spikebox-avr/1";
    sb_core_init(&core, &hal, &config);  // stops the motors
    window_start_ms = millis();
}

void loop()
{
    static uint32_t last_tick_ms = 0;
    uint8_t buf[32];
    size_t n = 0;

    // Hand over whatever arrived at once: the host times DRIVE → TELEMETRY.
    while (Serial.available() > 0 && n < sizeof buf) {
        buf[n++] = (uint8_t)Serial.read();
    }
    if (n > 0) {
        sb_core_rx(&core, buf, n);
    }

    uint32_t now = millis();
    if (now != last_tick_ms) {
        last_tick_ms = now;
        update_speeds(now);
        sb_core_tick(&core);
    }
}

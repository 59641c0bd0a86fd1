// The workbench's colours, one place: a colour per method (Okabe-Ito, readable by colour-blind
// users) and the scale for "loss relative to Min-Max" (green: much lower, red: no gain).
#pragma once

#include <QColor>

#include "core/quant/quantizer.h"

namespace colors {

inline QColor minMax()
{
    return QColor(0xE6, 0x9F, 0x00);
}
inline QColor neuqi()
{
    return QColor(0x00, 0x72, 0xB2);
}
inline QColor neuqiInt()
{
    return QColor(0x00, 0x9E, 0x73);
}
inline QColor manual()
{
    return QColor(0xCC, 0x79, 0xA7);
}
inline QColor method(zp::quant::Method m)
{
    switch (m) {
        case zp::quant::Method::MinMax:
            return minMax();
        case zp::quant::Method::NeUQI:
            return neuqi();
        case zp::quant::Method::NeUQIInt:
            return neuqiInt();
    }
    return neuqi();
}

// The range the ratio scale spans; values outside are clamped.
constexpr double kRatioLow = 0.3, kRatioHigh = 1.0;
// A light colour (dark text stays readable on it) for ratio = loss / Min-Max loss.
QColor ratio(double r);
// A light sequential colour for t in [0, 1] (pale yellow -> light blue; dark text stays
// readable), for magnitudes without a good or bad side (e.g. how far a parameter moved).
QColor sequential(double t);

}  // namespace colors

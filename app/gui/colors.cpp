#include "app/gui/colors.h"

#include <algorithm>
#include <cmath>

namespace colors {

QColor ratio(double r)
{
    if (!std::isfinite(r))
        return QColor(230, 230, 230);
    // green (0x66bd63) -> yellow (0xfee08b) -> red (0xf46d43)
    const double t = std::clamp((r - kRatioLow) / (kRatioHigh - kRatioLow), 0.0, 1.0);
    const QColor a = t < 0.5 ? QColor(0x66, 0xbd, 0x63) : QColor(0xfe, 0xe0, 0x8b);
    const QColor b = t < 0.5 ? QColor(0xfe, 0xe0, 0x8b) : QColor(0xf4, 0x6d, 0x43);
    const double u = t < 0.5 ? t * 2.0 : (t - 0.5) * 2.0;
    auto mix = [u](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * u)); };
    return QColor(mix(a.red(), b.red()), mix(a.green(), b.green()), mix(a.blue(), b.blue()));
}

QColor sequential(double t)
{
    if (!std::isfinite(t))
        return QColor(230, 230, 230);
    // 0xffffcc -> 0xa1dab4 -> 0x41b6c4 (ColorBrewer YlGnBu, its light half)
    t = std::clamp(t, 0.0, 1.0);
    const QColor a = t < 0.5 ? QColor(0xff, 0xff, 0xcc) : QColor(0xa1, 0xda, 0xb4);
    const QColor b = t < 0.5 ? QColor(0xa1, 0xda, 0xb4) : QColor(0x41, 0xb6, 0xc4);
    const double u = t < 0.5 ? t * 2.0 : (t - 0.5) * 2.0;
    auto mix = [u](int x, int y) { return static_cast<int>(std::lround(x + (y - x) * u)); };
    return QColor(mix(a.red(), b.red()), mix(a.green(), b.green()), mix(a.blue(), b.blue()));
}

}  // namespace colors

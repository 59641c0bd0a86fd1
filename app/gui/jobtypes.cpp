#include "app/gui/jobtypes.h"

zp::quant::QuantConfig JobSettings::quantConfig() const
{
    zp::quant::QuantConfig c;
    c.method = method;
    c.bits = bits;
    c.group_size = groupSize;
    return c;
}

QString JobSettings::describe() const
{
    return QStringLiteral("%1, %2 bits, %3, seed %4, %5")
        .arg(methodLabel(method))
        .arg(bits)
        .arg(groupSize < 0 ? QStringLiteral("channel-wise") : QStringLiteral("g%1").arg(groupSize))
        .arg(seed)
        .arg(device);
}

QString methodLabel(zp::quant::Method m)
{
    return QString::fromUtf8(zp::quant::method_info(m).label);
}

QString formatSeconds(double s)
{
    if (s < 0)
        return QStringLiteral("?");
    if (s < 60)
        return QStringLiteral("%1 s").arg(s, 0, 'f', s < 10 ? 1 : 0);
    int t = static_cast<int>(s + 0.5);
    return QStringLiteral("%1 min %2 s").arg(t / 60).arg(t % 60, 2, 10, QLatin1Char('0'));
}

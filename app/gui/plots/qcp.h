// The one way the plot views include QCustomPlot. Its header uses Qt's lower-case keywords
// (signals, foreach), which this project switches off (QT_NO_KEYWORDS, because of libtorch's
// headers): map them for the header only, then remove them again.
#pragma once

#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach

#include "app/gui/datadir.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

QString applicationId()
{
    return QStringLiteral("io.github.zeropoint.Workbench");
}

QString dataDir()
{
    // applicationDirPath() resolves /proc/self/exe, so a symbolic link to the binary still finds
    // the tree it belongs to. Tested by tests/install (an installed tree in a temporary prefix).
    const QString dir = QDir::cleanPath(QCoreApplication::applicationDirPath() +
                                        QStringLiteral("/../share/zeropoint"));
    return QFileInfo(dir).isDir() ? dir : QString();
}

QString demoDefinitionPath()
{
    const QString dir = dataDir();
    if (!dir.isEmpty()) {
        const QString file = dir + QStringLiteral("/demo/demo_model.json");
        if (QFileInfo::exists(file))
            return file;
    }
    return QStringLiteral(":/demo/demo_model.json");
}

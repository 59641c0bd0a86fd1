// Where the workbench finds the files it reads at run time, and the name it is known by on the
// desktop (the desktop entry, the icon, the AppStream metainfo and the MIME type all use it).
#pragma once

#include <QString>

// The reverse-DNS application id: io.github.zeropoint.Workbench.
QString applicationId();

// <prefix>/share/zeropoint, found from the executable's folder (<prefix>/bin), so that an installed
// tree works from any folder and after a move; no path of the build or source tree is compiled in.
// Empty where that folder is absent (the build tree), where the copies compiled into the binary as
// Qt resources serve instead.
QString dataDir();

// The built-in demo's definition: <data dir>/demo/demo_model.json where installed, otherwise the
// copy compiled in (":/demo/demo_model.json").
QString demoDefinitionPath();

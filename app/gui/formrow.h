// Small form helpers shared by the panels and dialogs.
#pragma once

#include <QHBoxLayout>
#include <QPushButton>
#include <QWidget>

// A form row: the field stretching, the button (e.g. "…" to browse) at its right.
inline QWidget* withButton(QWidget* parent, QWidget* field, QPushButton* button)
{
    auto* w = new QWidget(parent);
    auto* l = new QHBoxLayout(w);
    l->setContentsMargins(0, 0, 0, 0);
    l->addWidget(field, 1);
    l->addWidget(button);
    return w;
}

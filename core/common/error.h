// The one small exception hierarchy of the engine. Messages name the file, the field and the bad
// value, so that a user can act on them without a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace zp {

// Base of every error the engine throws on purpose.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A file could not be opened, read, written or renamed (the OS said no).
class IoError : public Error {
public:
    using Error::Error;
};

// A file was readable but its content is wrong: truncated, lying header, bad field.
class FormatError : public Error {
public:
    using Error::Error;
};

// A caller passed values that cannot work (bits outside 2..8, group size that does not divide...).
class InvalidArgument : public Error {
public:
    using Error::Error;
};

// Numeric trouble in the data itself: NaN/Inf weights, negative importance.
class NumericError : public Error {
public:
    using Error::Error;
};

// The user cancelled a long job through its progress callback.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled") {}
};

}  // namespace zp

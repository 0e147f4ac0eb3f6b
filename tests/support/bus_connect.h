// A test's connection to the bus a URL names (nats://…, kafka://…).
#pragma once

#include <memory>
#include <string>

#include "bus/bus.h"

namespace ltxbus::testing {

// Null, after a GoogleTest failure, if the URL does not parse or the bus
// cannot be reached.
std::unique_ptr<bus::Bus> ConnectBus(const std::string& url);

}  // namespace ltxbus::testing

// Umbrella header: everything a user of the pbit library needs.
#pragma once
#include "pbit/backend.hpp"
#include "pbit/build_info.hpp"
#include "pbit/coloring.hpp"
#include "pbit/config.hpp"
#include "pbit/error.hpp"
#include "pbit/graph.hpp"
#include "pbit/io.hpp"
#include "pbit/rng.hpp"
#include "pbit/sampler.hpp"
#include "pbit/roles.hpp"
#include "pbit/topology.hpp"

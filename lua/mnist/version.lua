-- The rock's version, in one place: the rockspec's name and `mnist.version` are checked against it
-- (spec/version_spec.lua), and weight files are named after it.
return "0.1.0"

"""The labelled-traffic testbed: real servers, clients and attack tools in network namespaces."""

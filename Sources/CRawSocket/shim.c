// Intentionally empty: CRawSocket is headers and static-inline shims (and namespace.c, the mount
// set-up of a private namespace, too long to be inline).

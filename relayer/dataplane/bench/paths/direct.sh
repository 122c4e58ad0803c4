# (a) direct veth between the two lease namespaces (made by run.sh): the reference.
up_direct() { :; }
rep_direct() { rep_tunnel direct 198.18.1.2; }
down_direct() { :; }

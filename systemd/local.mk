# systemd/local.mk: the systemd units, included by the top Makefile.am.
# conduitd.service is made from its .in with the install paths; both go to
# $(systemdsystemunitdir) (configure: pkg-config's systemdsystemunitdir, or
# --with-systemdsystemunitdir=DIR; "no" installs none).
systemd_generated = systemd/conduitd.service
EXTRA_DIST += systemd/conduitd.service.in systemd/conduitd.socket
CLEANFILES += $(systemd_generated)
noinst_DATA = $(systemd_generated)

systemd/conduitd.service: $(srcdir)/systemd/conduitd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
		$(srcdir)/systemd/conduitd.service.in >$@.tmp && mv $@.tmp $@

if HAVE_SYSTEMD_UNITS
systemdsystemunit_DATA = $(systemd_generated) systemd/conduitd.socket
endif

# make distcheck installs under its own prefix, never into /lib/systemd.
AM_DISTCHECK_CONFIGURE_FLAGS = --with-systemdsystemunitdir=$$dc_install_base/$(systemdsystemunitdir)

# Their tests: systemd-analyze verify and security, and restarts under
# systemd-socket-activate (Debian's systemd package; skip without it).
systemd_tests = test/systemd/test_units.py test/systemd/test_socket_activation.py
TESTS += $(systemd_tests)
EXTRA_DIST += $(systemd_tests) test/systemd/socket-holder.sh

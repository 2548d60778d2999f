################################################################################
#
# maskservice
#
################################################################################

MASKSERVICE_VERSION = 1.0
MASKSERVICE_SITE = $(BR2_EXTERNAL_MASKSERVICE_PATH)/..
MASKSERVICE_SITE_METHOD = local
# Only the sources: not the checkout's builds, development data or UI dependencies.
MASKSERVICE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude=/bin --exclude=/var --exclude=node_modules
MASKSERVICE_LICENSE = PROPRIETARY
MASKSERVICE_GOMOD = mask.services/maskservice
MASKSERVICE_BUILD_TARGETS = cmd/maskserviced cmd/transducer-sim
MASKSERVICE_LDFLAGS = -X main.version=$(MASKSERVICE_VERSION)

# Buildroot vendors the Go modules of a downloaded source, but not of a local one: the
# checkout must hold vendor/ (go mod vendor), so that the build needs no network.
define MASKSERVICE_CHECK_VENDOR
	@test -f $(@D)/vendor/modules.txt || { \
		echo "maskservice: run 'go mod vendor' in $(MASKSERVICE_SITE) first (buildroot/README.md)"; \
		exit 1; }
endef
MASKSERVICE_POST_RSYNC_HOOKS += MASKSERVICE_CHECK_VENDOR

# The UI is built with Node.js, which the image's build does not run: the checkout must hold
# its build (make ui), or the device would embed the placeholder page.
define MASKSERVICE_CHECK_UI
	@test -f $(@D)/web/ui/dist/index.html || { \
		echo "maskservice: run 'make ui' in $(MASKSERVICE_SITE) first (buildroot/README.md)"; \
		exit 1; }
endef
MASKSERVICE_POST_RSYNC_HOOKS += MASKSERVICE_CHECK_UI

define MASKSERVICE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/maskservice.service \
		$(TARGET_DIR)/usr/lib/systemd/system/maskservice.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/maskservice-kiosk.service \
		$(TARGET_DIR)/usr/lib/systemd/system/maskservice-kiosk.service
endef

define MASKSERVICE_USERS
	maskservice -1 maskservice -1 * /var/lib/maskservice - dialout maskserviced
	kiosk -1 kiosk -1 * /home/kiosk - video,input,render kiosk on the LCD
endef

$(eval $(golang-package))

include $(sort $(wildcard $(BR2_EXTERNAL_MASKSERVICE_PATH)/package/*/*.mk))

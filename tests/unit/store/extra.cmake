target_link_libraries(unit_store PRIVATE PkgConfig::GSASL)
